// matmul on Tensors: against a plain TypeScript triple loop, with every
// transpose option, the gradients the transposes give (checked by finite
// differences), and its argument errors.
import t from 'tap';
import { matmul } from '../../lib/ops/gemm';
import { Tensor } from '../../lib/tensor';

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

const random = mulberry32(7);

function randomTensor(shape: number[]): Tensor {
  const data = new Float32Array(shape[0] * shape[1]);
  for (let i = 0; i < data.length; i++) data[i] = random() * 2 - 1;
  return new Tensor(data, shape);
}

function transpose(x: Tensor): Tensor {
  const [rows, columns] = x.shape;
  const out = new Float32Array(rows * columns);
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = x.data[r * columns + c];
  return new Tensor(out, [columns, rows]);
}

// [M, K] x [K, N] in double precision.
function plainMatmul(a: Tensor, b: Tensor): Float64Array {
  const [M, K] = a.shape;
  const N = b.shape[1];
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let k = 0; k < K; k++) sum += a.data[i * K + k] * b.data[k * N + j];
      out[i * N + j] = sum;
    }
  }
  return out;
}

function maxError(actual: Float32Array, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  return Number.isNaN(worst) ? Infinity : worst;
}

t.test('matmul matches the plain product for every transpose option', async (t) => {
  for (const [M, K, N] of [
    [1, 1, 1],
    [3, 4, 5],
    [17, 33, 9],
    [40, 70, 65],
  ]) {
    const a = randomTensor([M, K]);
    const b = randomTensor([K, N]);
    const expected = plainMatmul(a, b);
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const out = matmul(transposeA ? transpose(a) : a, transposeB ? transpose(b) : b, { transposeA, transposeB });
        t.same(out.shape, [M, N]);
        t.ok(maxError(out.data, expected) < 1e-5 * Math.sqrt(K) * 4, `${M}x${K}x${N} transposeA=${transposeA} transposeB=${transposeB}`);
      }
    }
  }
});

t.test('the transposed products are the gradients of sum(W * matmul(a, b))', async (t) => {
  // L = sum(W .* (a b)): dL/da = W b^T and dL/db = a^T W.
  const a = randomTensor([5, 7]);
  const b = randomTensor([7, 6]);
  const w = randomTensor([5, 6]);
  const loss = (x: Tensor, y: Tensor) => {
    const product = plainMatmul(x, y);
    let sum = 0;
    for (let i = 0; i < product.length; i++) sum += w.data[i] * product[i];
    return sum;
  };
  const gradA = matmul(w, b, { transposeB: true });
  const gradB = matmul(a, w, { transposeA: true });
  const h = 1e-2;
  for (const [x, grad, name] of [
    [a, gradA, 'a'],
    [b, gradB, 'b'],
  ] as Array<[Tensor, Tensor, string]>) {
    let worst = 0;
    for (let i = 0; i < x.size; i++) {
      const saved = x.data[i];
      x.data[i] = saved + h;
      const up = loss(a, b);
      x.data[i] = saved - h;
      const down = loss(a, b);
      x.data[i] = saved;
      // The loss is linear in each entry, so central differences are exact up to rounding.
      worst = Math.max(worst, Math.abs((up - down) / (2 * h) - grad.data[i]));
    }
    t.ok(worst < 1e-3, `d loss / d ${name}: worst error ${worst}`);
  }
});

t.test('matmul names the shapes when they do not fit', async (t) => {
  const a = Tensor.zeros([3, 4]);
  t.throws(() => matmul(a, Tensor.zeros([5, 6])), { message: /^kiln\.matmul: inner dimensions differ: a \[3, 4\] x b \[5, 6\]/ });
  t.throws(() => matmul(a, Tensor.zeros([3, 6]), { transposeA: true, transposeB: true }), {
    message: /inner dimensions differ: a\^T \[3, 4\] x b\^T \[3, 6\] \(3 vs 6\)/,
  });
  t.doesNotThrow(() => matmul(a, Tensor.zeros([3, 6]), { transposeA: true }));
  t.throws(() => matmul(Tensor.zeros([2, 3, 4]), a), /kiln.matmul: expected a Tensor of rank 2 for 'a' but received shape \[2, 3, 4\]/);
  t.throws(() => matmul(a, new Float32Array(4) as unknown as Tensor), /kiln.matmul: expected a Tensor for 'b'/);
  t.throws(() => matmul(a, a, { transposeB: 'yes' as unknown as boolean }), /kiln.matmul: expected a boolean for 'transposeB' but received 'yes'/);
});
