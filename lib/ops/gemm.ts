// Matrix multiply: `matmul` on 2-D Tensors, and `gemm`, the BLAS-style call on
// raw Float32Arrays (row-major, with leading dimensions) for benchmarks and
// code that manages its own buffers. Both run the packed, multithreaded
// native GEMM.
import { loadAddon } from '../native';
import { Tensor, expectTensor } from '../tensor';
import { argumentError, expectFloat32Array, expectInteger, expectNumber, formatShape, rangeError } from '../validate';

interface GemmAddon {
  gemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Float32Array,
    lda: number,
    B: Float32Array,
    ldb: number,
    beta: number,
    C: Float32Array,
    ldc: number,
  ): void;
  gemmReference: GemmAddon['gemm'];
  gemmKernelInfo(): GemmKernelInfo;
  measureFmaPeak(isa: string, threads: number, milliseconds: number): number;
}

/** The microkernel and cache blocking the native GEMM uses at the active ISA. */
export interface GemmKernelInfo {
  name: string;
  mr: number;
  nr: number;
  kc: number;
  mc: number;
  nc: number;
}

const addon = () => loadAddon<GemmAddon>();

export interface MatmulOptions {
  /** Use the transpose of `a` (so `a` is [K, M]). */
  transposeA?: boolean;
  /** Use the transpose of `b` (so `b` is [N, K]). */
  transposeB?: boolean;
}

function expectBoolean(fn: string, argument: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw argumentError(fn, argument, 'a boolean', value);
  return value;
}

/** op(a) x op(b) for 2-D tensors: [M, K] x [K, N] -> [M, N]. */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const fn = 'matmul';
  expectTensor(fn, 'a', a, 2);
  expectTensor(fn, 'b', b, 2);
  if (typeof options !== 'object' || options === null) throw argumentError(fn, 'options', 'an options object', options);
  const transposeA = expectBoolean(fn, 'transposeA', options.transposeA);
  const transposeB = expectBoolean(fn, 'transposeB', options.transposeB);
  const [aRows, aColumns] = a.shape;
  const [bRows, bColumns] = b.shape;
  const M = transposeA ? aColumns : aRows;
  const K = transposeA ? aRows : aColumns;
  const bK = transposeB ? bColumns : bRows;
  const N = transposeB ? bRows : bColumns;
  if (K !== bK) {
    const describe = (name: string, tensor: Tensor, transposed: boolean) =>
      `${name}${transposed ? '^T' : ''} ${formatShape(tensor.shape)}`;
    throw new RangeError(
      `kiln.matmul: inner dimensions differ: ${describe('a', a, transposeA)} x ${describe('b', b, transposeB)} ` +
        `(${K} vs ${bK})`,
    );
  }
  const out = Tensor.zeros([M, N]);
  addon().gemm(transposeA, transposeB, M, N, K, 1, a.data, aColumns, b.data, bColumns, 0, out.data, N);
  return out;
}

export interface GemmArguments {
  transA?: boolean;
  transB?: boolean;
  M: number;
  N: number;
  K: number;
  alpha?: number;
  A: Float32Array;
  /** Row stride of A as stored ([M, K], or [K, M] with transA); defaults to its row width. */
  lda?: number;
  B: Float32Array;
  ldb?: number;
  beta?: number;
  C: Float32Array;
  ldc?: number;
}

type GemmEntry = 'gemm' | 'gemmReference';

function checkMatrix(fn: string, name: string, ldName: string, data: unknown, rows: number, columns: number, ld: unknown): number {
  const stride = ld === undefined ? columns : expectInteger(fn, ldName, ld, 1, Number.MAX_SAFE_INTEGER);
  if (stride < columns) {
    throw rangeError(fn, ldName, `an integer >= ${columns} (the row width of ${name}, stored as ${rows} x ${columns})`, String(stride));
  }
  const array = expectFloat32Array(fn, name, data);
  const needed = (rows - 1) * stride + columns;
  if (!Number.isSafeInteger(needed)) {
    throw rangeError(fn, ldName, 'a matrix extent that fits in 2^53', `${rows} rows of stride ${stride}`);
  }
  if (array.length < needed) {
    throw rangeError(
      fn,
      name,
      `a Float32Array of at least ${needed} elements (${name} stored as ${rows} x ${columns} with ${ldName} ${stride})`,
      `length ${array.length}`,
    );
  }
  return stride;
}

function runGemm(entry: GemmEntry, args: GemmArguments): Float32Array {
  const fn = entry;
  if (typeof args !== 'object' || args === null) throw argumentError(fn, 'arguments', 'an arguments object', args);
  const transA = expectBoolean(fn, 'transA', args.transA);
  const transB = expectBoolean(fn, 'transB', args.transB);
  const M = expectInteger(fn, 'M', args.M, 1, Number.MAX_SAFE_INTEGER);
  const N = expectInteger(fn, 'N', args.N, 1, Number.MAX_SAFE_INTEGER);
  const K = expectInteger(fn, 'K', args.K, 1, Number.MAX_SAFE_INTEGER);
  const alpha = args.alpha === undefined ? 1 : expectNumber(fn, 'alpha', args.alpha);
  const beta = args.beta === undefined ? 0 : expectNumber(fn, 'beta', args.beta);
  const lda = checkMatrix(fn, 'A', 'lda', args.A, transA ? K : M, transA ? M : K, args.lda);
  const ldb = checkMatrix(fn, 'B', 'ldb', args.B, transB ? N : K, transB ? K : N, args.ldb);
  const ldc = checkMatrix(fn, 'C', 'ldc', args.C, M, N, args.ldc);
  addon()[entry](transA, transB, M, N, K, alpha, args.A, lda, args.B, ldb, beta, args.C, ldc);
  return args.C;
}

/**
 * C = alpha * op(A) * op(B) + beta * C on row-major Float32Arrays (BLAS sgemm).
 * alpha defaults to 1 and beta to 0 (C is then written without being read);
 * leading dimensions default to the row widths. Returns C.
 */
export function gemm(args: GemmArguments): Float32Array {
  return runGemm('gemm', args);
}

/** The same contract as `gemm`, computed by the plain triple loop (double accumulation): the tests' oracle. */
export function gemmReference(args: GemmArguments): Float32Array {
  return runGemm('gemmReference', args);
}

/** The microkernel (tile MR x NR) and cache blocking the native GEMM uses now. */
export function gemmKernelInfo(): GemmKernelInfo {
  return addon().gemmKernelInfo();
}

/**
 * The measured fp32 FMA peak in GFLOP/s for an ISA on `threads` threads (at
 * most the pool's thread count), running for about `milliseconds`.
 */
export function measureFmaPeak(isa: string, threads: number, milliseconds = 200): number {
  expectInteger('measureFmaPeak', 'threads', threads, 1, 256);
  expectInteger('measureFmaPeak', 'milliseconds', milliseconds, 1, 60000);
  return addon().measureFmaPeak(isa, threads, milliseconds);
}
