// The packed GEMM against the triple-loop reference (double accumulation) at
// the active ISA (npm test runs this file under avx512, avx2 and scalar):
// sizes around the microkernel tile (MR, NR) and the K block (KC), every
// transpose combination, alpha/beta cases, strided matrices, 1 vs 2 threads,
// and the native argument checks.
import t, { Test } from 'tap';
import { backend, setNumThreads } from '../../lib/backend';
import { loadAddon } from '../../lib/native';
import { gemm, gemmKernelInfo, gemmReference, measureFmaPeak } from '../../lib/ops/gemm';

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const random = mulberry32(20261123);

interface Case {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  alpha: number;
  beta: number;
  /** Extra elements at the end of every stored row (lda = width + pad). */
  pad: number;
  /** Fill C with NaN first (only meaningful with beta = 0). */
  nanC?: boolean;
}

// A stored-row matrix with `pad` extra columns holding NaN: reading them
// anywhere would poison the result.
function matrix(rows: number, columns: number, pad: number): { data: Float32Array; ld: number } {
  const ld = columns + pad;
  const data = new Float32Array((rows - 1) * ld + columns);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < ld && r * ld + c < data.length; c++) data[r * ld + c] = c < columns ? random() * 2 - 1 : NaN;
  }
  return { data, ld };
}

interface Outcome {
  fast: Float32Array;
  reference: Float32Array;
  ldc: number;
}

function run(c: Case): Outcome {
  const A = matrix(c.transA ? c.K : c.M, c.transA ? c.M : c.K, c.pad);
  const B = matrix(c.transB ? c.N : c.K, c.transB ? c.K : c.N, c.pad);
  const C = matrix(c.M, c.N, c.pad);
  // Padding of C must come back untouched: mark it with a finite sentinel.
  for (let r = 0; r < c.M; r++) for (let j = c.N; j < C.ld && r * C.ld + j < C.data.length; j++) C.data[r * C.ld + j] = 12345;
  if (c.nanC) for (let r = 0; r < c.M; r++) C.data.fill(NaN, r * C.ld, r * C.ld + c.N);
  const fast = C.data.slice();
  const reference = C.data.slice();
  const common = { transA: c.transA, transB: c.transB, M: c.M, N: c.N, K: c.K, alpha: c.alpha, beta: c.beta };
  gemm({ ...common, A: A.data, lda: A.ld, B: B.data, ldb: B.ld, C: fast, ldc: C.ld });
  gemmReference({ ...common, A: A.data, lda: A.ld, B: B.data, ldb: B.ld, C: reference, ldc: C.ld });
  return { fast, reference, ldc: C.ld };
}

function label(c: Case): string {
  return `${c.transA ? 'T' : 'N'}${c.transB ? 'T' : 'N'} M=${c.M} N=${c.N} K=${c.K} alpha=${c.alpha} beta=${c.beta} pad=${c.pad}${c.nanC ? ' NaN C' : ''}`;
}

// Worst element error relative to the result's scale; fp32 rounding grows
// about with sqrt(K).
function verify(t: Test, c: Case): void {
  const { fast, reference, ldc } = run(c);
  let scale = 1;
  for (let i = 0; i < c.M; i++) for (let j = 0; j < c.N; j++) scale = Math.max(scale, Math.abs(reference[i * ldc + j]));
  const tolerance = 2e-6 * Math.sqrt(c.K) * scale;
  let worst = 0;
  let where = '';
  for (let index = 0; index < fast.length; index++) {
    const row = Math.floor(index / ldc);
    const column = index % ldc;
    const inside = column < c.N;
    const error = inside ? Math.abs(fast[index] - reference[index]) : fast[index] === reference[index] ? 0 : Infinity;
    if (!(error <= worst)) {
      worst = Number.isNaN(error) ? Infinity : error;
      where = `C[${row}][${column}] = ${fast[index]} vs ${reference[index]}`;
    }
  }
  if (worst > tolerance) t.fail(`${label(c)}: error ${worst} > ${tolerance} at ${where}`);
  else t.pass(label(c));
}

const info = gemmKernelInfo();
const { mr, nr, kc, mc, nc } = info;
const transposes: Array<[boolean, boolean]> = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

t.test(`edge sizes around the ${info.name} tile and KC = ${kc}`, async (t) => {
  const around = (x: number) => [x - 1, x, x + 1].filter((v) => v >= 1);
  const mValues = [...new Set([1, 2, ...around(mr), ...around(nr), 37])];
  const nValues = [...new Set([1, 2, ...around(mr), ...around(nr), 41])];
  const kValues = [...new Set([1, 2, mr + 1, kc - 1, kc, kc + 1, 2 * kc + 3])];
  for (const [transA, transB] of transposes) {
    // Each dimension swept while the others stay at awkward middling sizes.
    for (const M of mValues) verify(t, { transA, transB, M, N: nr + 3, K: 19, alpha: 1, beta: 0, pad: 0 });
    for (const N of nValues) verify(t, { transA, transB, M: mr + 2, N, K: 23, alpha: 1, beta: 0, pad: 0 });
    for (const K of kValues) {
      const c = { transA, transB, M: 2 * mr + 1, N: nr + 1, K, alpha: 1, beta: 0, pad: 0 };
      verify(t, c);
    }
    // Wider than NC (A is then packed once per K step and reused across
    // column blocks), with K past KC.
    verify(t, { transA, transB, M: 2 * mr + 1, N: nc + nr + 3, K: kc + 5, alpha: 1, beta: 0.5, pad: 0 });
    // On one thread, so that the block really is wider than NC and taller than MC.
    const threads = backend().threads;
    setNumThreads(1);
    verify(t, { transA, transB, M: mc + mr + 1, N: nc + 5, K: 40, alpha: 1, beta: 0, pad: 0 });
    setNumThreads(threads);
    // A few random combinations of the edge values.
    for (let n = 0; n < 6; n++) {
      const pick = (values: number[]) => values[Math.floor(random() * values.length)];
      const c = { transA, transB, M: pick(mValues), N: pick(nValues), K: pick(kValues), alpha: 1, beta: 0, pad: 0 };
      verify(t, c);
    }
  }
});

t.test('named sizes', async (t) => {
  for (const [M, N, K] of [
    [1, 1, 1],
    [3, 517, 129],
    [1000, 1, 1000],
  ]) {
    for (const [transA, transB] of transposes) {
      const c = { transA, transB, M, N, K, alpha: 1, beta: 0, pad: 0 };
      verify(t, c);
    }
  }
});

t.test('alpha and beta', async (t) => {
  const cases: Array<[number, number, boolean]> = [
    [1, 0, true],
    [-0.5, 0, true],
    [1, 1, false],
    [2.5, -1.5, false],
    [0.25, 0.5, false],
    [0, 0, true],
    [0, 2, false],
  ];
  for (const [transA, transB] of transposes) {
    for (const [alpha, beta, nanC] of cases) {
      // K past KC: later K blocks must add to the first one's result, whatever beta was.
      for (const K of [7, kc + 5]) {
        const c = { transA, transB, M: mr + 3, N: 2 * nr - 1, K, alpha, beta, pad: 0, nanC };
        verify(t, c);
      }
    }
  }
});

t.test('strided matrices (lda, ldb, ldc wider than the rows)', async (t) => {
  for (const [transA, transB] of transposes) {
    for (const pad of [1, 5, 16]) {
      for (const beta of [0, 0.75]) {
        const c = { transA, transB, M: mr + 1, N: nr + 2, K: 33, alpha: 1.25, beta, pad };
        verify(t, c);
      }
    }
  }
});

t.test('1 and 2 threads give the same result', async (t) => {
  const before = backend().threads;
  t.teardown(() => setNumThreads(before));
  for (const [transA, transB] of transposes) {
    for (const [M, N, K] of [
      // Each big enough for gemm to use both threads.
      [128, 128, 128],
      [131, 157, kc + 7],
      [7, 900, 100],
      [900, 7, 100],
      [20, 2 * nc + 40, 50],
      // Rows dealt to the threads in chunks (multiplyRowsDealt in gemm.cpp)
      // under each current kernel: several K passes; several column blocks.
      [481, 40, 1033],
      [1200, 2100, 40],
    ]) {
      const A = matrix(transA ? K : M, transA ? M : K, 0).data;
      const B = matrix(transB ? N : K, transB ? K : N, 0).data;
      const results = [1, 2].map((threads) => {
        setNumThreads(threads);
        const C = new Float32Array(M * N).fill(0.5);
        gemm({ transA, transB, M, N, K, alpha: 1, A, B, beta: 0.5, C });
        return C;
      });
      let differences = 0;
      for (let i = 0; i < results[0].length; i++) if (results[0][i] !== results[1][i]) differences++;
      t.equal(differences, 0, `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} ${M}x${N}x${K}: identical`);
      const c = { transA, transB, M, N, K, alpha: 1, beta: 0, pad: 0 };
      verify(t, c);
    }
  }
});

t.test('bad arguments are rejected before any work, in TypeScript and natively', async (t) => {
  const A = new Float32Array(12);
  const B = new Float32Array(20);
  const C = new Float32Array(15);
  const ok = { M: 3, N: 5, K: 4, A, B, C };
  t.doesNotThrow(() => gemm(ok));
  t.throws(() => gemm({ ...ok, M: 0 }), /kiln.gemm: expected an integer in \[1, \d+\] for 'M' but received 0/);
  t.throws(() => gemm({ ...ok, K: 1.5 }), /for 'K' but received 1.5/);
  t.throws(() => gemm({ ...ok, A: new Float32Array(11) }), /kiln.gemm: expected a Float32Array of at least 12 elements .* for 'A' but received length 11/);
  t.throws(() => gemm({ ...ok, lda: 3 }), /kiln.gemm: expected an integer >= 4 .* for 'lda' but received 3/);
  t.throws(() => gemm({ ...ok, ldc: 6 }), /for 'C' but received length 15/);
  t.throws(() => gemm({ ...ok, B: new Float64Array(20) as unknown as Float32Array }), /expected a Float32Array for 'B'/);
  t.throws(() => gemm({ ...ok, alpha: NaN }), /for 'alpha' but received NaN/);
  t.throws(() => gemm({ ...ok, transA: 1 as unknown as boolean }), /expected a boolean for 'transA'/);

  // The native side checks again: call the addon directly.
  const native = loadAddon<{ gemm: (...args: unknown[]) => void; measureFmaPeak: (...args: unknown[]) => number }>();
  t.throws(() => native.gemm(false, false, 3, 5, 4, 1, A, 4, B, 5, 0, C, 5 * 2 ** 52), /kiln.gemm: .*for 'ldc'/);
  t.throws(() => native.gemm(false, false, 3, 5, 4, 1, A, 4, B, 5, 0, C, 4), /kiln.gemm: expected an integer >= 5 .* for 'ldc' but received 4/);
  t.throws(() => native.gemm(false, false, 3, 5, 4, 1, A, 4, B, 5, 0, new Float32Array(14), 5), /kiln.gemm: expected a Float32Array of at least 15 elements .* for 'C' but received length 14/);
  t.throws(() => native.gemm(false, false, 3, 5, 4, 1, A, 4, B, 5, 0, C), /kiln.gemm: expected an integer in .* for 'ldc' but received undefined/);
  t.throws(() => native.gemm(false, true, 3, 5, 4, 1, A, 4, B, 3, 0, C, 5), /kiln.gemm: expected an integer >= 4 \(the row width of B, B stored as 5 x 4\) for 'ldb' but received 3/);
  t.throws(() => native.gemm(true, false, 3, 5, 4, 1, A, 2, B, 5, 0, C, 5), /kiln.gemm: expected an integer >= 3 .* for 'lda' but received 2/);
  t.throws(() => native.gemm(false, false, 2 ** 40, 5, 4, 1, A, 2 ** 20, B, 5, 0, C, 5), /kiln.gemm: expected a shape whose element count fits in 2\^53 for 'lda'/);
  t.throws(() => native.gemm(false, false, 3, 5, 4, Infinity, A, 4, B, 5, 0, C, 5), /for 'alpha'/);
  const shared = new Float32Array(40);
  t.throws(
    () => native.gemm(false, false, 3, 5, 4, 1, shared.subarray(0, 12), 4, B, 5, 0, shared.subarray(10, 25), 5),
    /kiln.gemm: expected an array that shares no memory with A for 'C'/,
  );
  t.doesNotThrow(() => native.gemm(false, false, 3, 5, 4, 1, shared.subarray(0, 12), 4, B, 5, 0, shared.subarray(12, 27), 5));
  t.throws(() => native.measureFmaPeak('sse9', 1, 1), /kiln.measureFmaPeak: expected one of 'scalar', 'avx2', 'avx512' for 'isa'/);
  t.throws(() => native.measureFmaPeak('scalar', 0, 1), /for 'threads' but received 0/);
});

t.test('measureFmaPeak reports a positive rate', async (t) => {
  const rate = measureFmaPeak(backend().isa, 1, 5);
  t.ok(rate > 0 && Number.isFinite(rate), `${rate} GFLOP/s`);
});
