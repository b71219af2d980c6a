// Kernels and training next to processes that keep every core busy give the
// same bits as on a quiet machine. With the cores shared, the pool's workers
// are often descheduled when a job is published, and the calling thread then
// runs their tasks itself (thread_pool.cpp): each task must compute exactly
// what it computes on its own thread, scratch slots and partial sums
// included.
import t from 'tap';
import { spawn, ChildProcess } from 'node:child_process';
import * as os from 'node:os';
import { backend, setNumThreads } from '../../lib/backend';
import { createRandom } from '../../lib/data/random';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from '../../lib/ops/conv';
import { matmul } from '../../lib/ops/gemm';
import { Tensor } from '../../lib/tensor';
import { smallData, smallModel } from './fixtures/models';

const THREADS = 2;
const threadsBefore = backend().threads;
setNumThreads(THREADS);
t.teardown(() => setNumThreads(threadsBefore));

function bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.slice().buffer);
}

// Index of the first element whose bits differ (-1: none), or -2 on a
// length mismatch. (tap's deep comparison of 100K-element arrays took
// seconds.)
function firstDifference(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function randomTensor(shape: number[], seed: number): Tensor {
  const random = createRandom(seed);
  const count = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from({ length: count }, () => random.nextFloat() * 2 - 1), shape);
}

// Every op a training step leans on, at sizes that split over threads: a
// strided and a padded convolution in all three passes (per-thread slots,
// image dealers, filter-gradient partial sums), a GEMM, and a few epochs of
// a small model (pooling, batch norm, Adam, softmax cross-entropy).
async function workload(): Promise<Record<string, Uint32Array>> {
  const out: Record<string, Uint32Array> = {};
  const layers = [
    { name: 'same 3x3', input: [16, 16, 16, 16], filter: [3, 3, 16, 32], options: { padding: 'same' as const } },
    { name: 'stride 2', input: [16, 16, 16, 32], filter: [3, 3, 32, 64], options: { strides: 2, padding: 'same' as const } },
    { name: '1x1 stride 2', input: [16, 16, 16, 16], filter: [1, 1, 16, 32], options: { strides: 2 } },
  ];
  for (const [i, layer] of layers.entries()) {
    const x = randomTensor(layer.input, 10 + i);
    const w = randomTensor(layer.filter, 20 + i);
    const y = conv2d(x, w, layer.options);
    const dy = randomTensor(y.shape.slice(), 30 + i);
    out[`${layer.name} forward`] = bits(y.data);
    out[`${layer.name} backward data`] = bits(conv2dBackwardInput(dy, w, layer.input, layer.options).data);
    const { gradFilter, gradBias } = conv2dBackwardFilter(x, dy, layer.filter, layer.options);
    out[`${layer.name} backward filter`] = bits(gradFilter.data);
    out[`${layer.name} bias gradient`] = bits(gradBias.data);
  }
  out.gemm = bits(matmul(randomTensor([300, 257], 40), randomTensor([257, 190], 41)).data);
  const m = smallModel(1);
  await m.fit(smallData(1), { epochs: 2, batchSize: 8, verbose: 0, seed: 1 });
  for (const [key, value] of m.getWeights()) out[`model ${key}`] = bits(value);
  return out;
}

function busyProcesses(count: number): ChildProcess[] {
  return Array.from({ length: count }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

t.test('kernels and training next to busy processes == on a quiet machine', async (t) => {
  const quiet = await workload();
  // One busy process per core (at most 8), so the pool's threads share
  // every core of a small machine.
  const busy = busyProcesses(Math.min(8, Math.max(1, os.availableParallelism())));
  t.teardown(() => busy.forEach((child) => child.kill('SIGKILL')));
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (let round = 0; round < 3; round++) {
    const contended = await workload();
    t.same(Object.keys(contended), Object.keys(quiet), `round ${round}: the same results`);
    for (const key of Object.keys(quiet)) {
      t.equal(firstDifference(contended[key], quiet[key]), -1, `round ${round}: ${key} bit-identical (first differing element)`);
    }
  }
});
