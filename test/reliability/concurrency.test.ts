// Concurrency: two models training at the same time in one process give the
// same weights as each trained alone (steps share the kernel thread pool one
// job at a time, so partitions do not change), and a model trained in a
// worker_threads Worker gives bit-identical weights to the main thread (the
// addon is context-aware: it loads in every worker). Terminating a worker in
// the middle of training leaves the process and the addon working.
import t from 'tap';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { backend, setNumThreads } from '../../lib/backend';
import { fixtureCommand } from './fixtures/child';
import { smallData, smallModel } from './fixtures/models';

const THREADS = 2;
const threadsBefore = backend().threads;
setNumThreads(THREADS);
t.teardown(() => setNumThreads(threadsBefore));

function bits(weights: Map<string, Float32Array> | Record<string, Float32Array>): Record<string, number[]> {
  const entries = weights instanceof Map ? [...weights] : Object.entries(weights);
  return Object.fromEntries(entries.map(([key, value]) => [key, Array.from(new Uint32Array(value.buffer, value.byteOffset, value.length))]));
}

async function trainAlone(seed: number, epochs: number) {
  const m = smallModel(seed);
  const { x, y } = smallData(seed);
  await m.fit({ x, y }, { epochs, batchSize: 8, verbose: 0, seed });
  return m.getWeights();
}

function startWorker(data: Record<string, unknown>): Worker {
  const [script, ...loader] = fixtureCommand('test/reliability/fixtures/train-worker.ts').reverse();
  return new Worker(script, { workerData: data, execArgv: loader.reverse() });
}

function trainInWorker(seed: number, epochs: number): Promise<Record<string, Float32Array>> {
  return new Promise((resolve, reject) => {
    const worker = startWorker({ seed, epochs, threads: THREADS });
    worker.once('message', (message) => {
      if (message.error) reject(new Error(message.error));
      else resolve(message.weights);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

t.test('two models training concurrently == each alone', async (t) => {
  const aloneA = await trainAlone(1, 3);
  const aloneB = await trainAlone(2, 3);
  const a = smallModel(1);
  const b = smallModel(2);
  const dataA = smallData(1);
  const dataB = smallData(2);
  // Interleaved: both fits are in flight at once, their steps alternate.
  await Promise.all([
    a.fit(dataA, { epochs: 3, batchSize: 8, verbose: 0, seed: 1 }),
    b.fit(dataB, { epochs: 3, batchSize: 8, verbose: 0, seed: 2 }),
    (async () => {
      // predict on a third model meanwhile
      const c = smallModel(3);
      for (let i = 0; i < 5; i++) await c.predict(smallData(3, 4).x);
    })(),
  ]);
  t.same(bits(a.getWeights()), bits(aloneA), 'model A: bit-identical');
  t.same(bits(b.getWeights()), bits(aloneB), 'model B: bit-identical');
  t.notSame(bits(aloneA), bits(aloneB), 'the two models differ from each other');
});

t.test('a model trained in a worker thread == the same model in the main thread', async (t) => {
  const main = await trainAlone(4, 2);
  const [inWorker, inWorker2] = await Promise.all([trainInWorker(4, 2), trainInWorker(5, 2)]);
  t.same(bits(inWorker), bits(main), 'worker weights are bit-identical to the main thread');
  t.same(bits(inWorker2), bits(await trainAlone(5, 2)), 'a second worker running at the same time is exact too');
});

t.test('terminating a worker mid-training leaves the process and the addon working', async (t) => {
  for (let round = 0; round < 3; round++) {
    const worker = startWorker({ seed: 6, epochs: 1, threads: THREADS, forever: true });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 30 + 40 * round));
    const code = await worker.terminate();
    t.equal(code, 1, `round ${round}: terminated`);
  }
  const again = await trainAlone(4, 2);
  t.same(bits(again), bits(await trainAlone(4, 2)), 'the main thread still trains deterministically afterwards');
});

t.test('the fixture path resolves', async (t) => {
  t.ok(path.isAbsolute(fixtureCommand('test/reliability/fixtures/train-worker.ts').slice(-1)[0]));
});
