// Soak test (not in CI): `npm run soak -- [serve|cycles|all] [--seconds N] [--cycles N]`
// (after `npx tsc -p tsconfig.json`). Each RSS sample follows a full collection and the
// native finalizers it schedules (releaseUnreachable), so no flag is needed.
//
// serve: an HTTP server on 127.0.0.1 answers predict requests from a briefly
//   trained lenet5 (requests are micro-batched: whatever arrived while the
//   previous predict ran goes in one call), while a second model trains
//   without pause in the same process. autocannon loads it for --seconds
//   (default 20). Reports requests/s, p50/p99 latency, errors (must be 0) and
//   RSS over time (must stay flat).
// cycles: --cycles (default 10,000) rounds of build / compile / trainOnBatch /
//   predict on small models, RSS sampled as it goes (must stay flat).
// Exits non-zero when there were errors or RSS kept growing.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as L from '../lib/layers';
import { setNumThreads } from '../lib/backend';
import { releaseUnreachable } from '../lib/bench/memory';
import { createRandom } from '../lib/data/random';
import { model, Model } from '../lib/model/model';
import { lenet5 } from '../lib/model/zoo';
import { Tensor } from '../lib/tensor';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const autocannon = require('autocannon') as (options: Record<string, unknown>) => Promise<AutocannonResult>;

const args = process.argv.slice(2);
const mode = args.find((arg) => !arg.startsWith('--') && !/^\d+$/.test(arg)) ?? 'all';
const option = (name: string, fallback: number) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const rssMB = () => process.memoryUsage().rss / 2 ** 20;

function syntheticDigits(count: number, seed: number): { x: Tensor; y: Int32Array } {
  const random = createRandom(seed);
  const y = Int32Array.from({ length: count }, () => random.nextInt(10));
  // Each class lights a different band of rows, plus noise: learnable in one epoch.
  const data = new Float32Array(count * 784);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < 784; i++) {
      const row = Math.floor(i / 28);
      data[n * 784 + i] = (Math.floor(row / 3) === y[n] ? 0.8 : 0) + random.nextFloat() * 0.2;
    }
  }
  return { x: new Tensor(data, [count, 28, 28, 1]), y };
}

/** Slope of y over x (least squares), e.g. MB per sample index. */
function slope(values: number[]): number {
  const n = values.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = values.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  values.forEach((v, i) => {
    num += (i - mx) * (v - my);
    den += (i - mx) ** 2;
  });
  return num / den;
}

async function serve(seconds: number): Promise<boolean> {
  const server = lenet5({ seed: 1 });
  server.compile({ optimizer: 'adam', loss: 'softmaxCrossEntropy' });
  const train = syntheticDigits(512, 1);
  await server.fit(train, { epochs: 1, batchSize: 32, verbose: 0 });
  const accuracy = (await server.evaluate(syntheticDigits(256, 2))).accuracy ?? 0;
  console.log(`serving lenet5 (trained 1 epoch on 512 synthetic digits, accuracy ${(accuracy * 100).toFixed(1)}% on 256 others)`);

  // Micro-batching: requests queue up while a predict runs; the next predict takes them all.
  type Pending = { image: Float32Array; respond: (body: string, status?: number) => void };
  let queue: Pending[] = [];
  let running = false;
  const maxBatch = 64;
  let batches = 0;
  let served = 0;
  const drain = async () => {
    if (running || queue.length === 0) return;
    running = true;
    const batch = queue.slice(0, maxBatch);
    queue = queue.slice(maxBatch);
    try {
      const x = new Float32Array(batch.length * 784);
      batch.forEach((p, i) => x.set(p.image, i * 784));
      const out = await server.predict(new Tensor(x, [batch.length, 28, 28, 1]), { batchSize: maxBatch });
      batch.forEach((p, i) => {
        const row = out.data.subarray(i * 10, i * 10 + 10);
        let best = 0;
        for (let c = 1; c < 10; c++) if (row[c] > row[best]) best = c;
        p.respond(JSON.stringify({ class: best, confidence: row[best] }));
      });
      batches++;
      served += batch.length;
    } catch (error) {
      for (const p of batch) p.respond(JSON.stringify({ error: (error as Error).message }), 500);
    } finally {
      running = false;
      void drain();
    }
  };
  const httpServer = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/predict') {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.length !== 784 * 4) {
        res.writeHead(400).end(`expected 784 float32 values (3136 bytes), got ${body.length} bytes`);
        return;
      }
      const image = new Float32Array(784);
      new Uint8Array(image.buffer).set(body);
      queue.push({ image, respond: (text, status = 200) => res.writeHead(status, { 'content-type': 'application/json' }).end(text) });
      void drain();
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const port = (httpServer.address() as AddressInfo).port;

  // The second model trains without pause in the same process.
  const trainer = lenet5({ seed: 2 });
  trainer.compile({ optimizer: 'adam', loss: 'softmaxCrossEntropy' });
  let training = true;
  let trainedEpochs = 0;
  const trainingLoop = (async () => {
    while (training) {
      await trainer.fit(train, { epochs: 1, batchSize: 32, verbose: 0, seed: trainedEpochs });
      trainedEpochs++;
    }
  })();

  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssMB()), 1000);
  const image = Buffer.from(syntheticDigits(1, 3).x.data.buffer);
  console.log(`autocannon: 16 connections for ${seconds} s against http://127.0.0.1:${port}/predict`);
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/predict`,
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: image,
    connections: 16,
    duration: seconds,
  });
  clearInterval(sampler);
  training = false;
  await trainingLoop;
  httpServer.close();

  const errors = result.errors + result.timeouts + result.non2xx;
  const half = rss.slice(Math.floor(rss.length / 2));
  const growth = slope(half) * 60;
  console.log(`requests/s: ${result.requests.average.toFixed(0)} (${result.requests.total} in all, ${served} predicted in ${batches} batches, mean batch ${(served / Math.max(batches, 1)).toFixed(1)})`);
  console.log(`latency: p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, max ${result.latency.max} ms`);
  console.log(`errors: ${errors} (errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx})`);
  console.log(`meanwhile the second model trained ${trainedEpochs} epochs of 512 samples`);
  console.log(`RSS (MB, 1 s apart): ${rss.map((v) => v.toFixed(0)).join(' ')}`);
  console.log(`RSS trend over the second half: ${growth.toFixed(1)} MB/min`);
  const flat = Math.max(...half) - Math.min(...half) < 64 || growth < 30;
  return errors === 0 && flat;
}

function tinyModel(i: number): Model {
  const input = L.input({ shape: [8, 8, 1 + (i % 3)] });
  const conv = L.conv2d({ filters: 4 + (i % 5), kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input);
  const pooled = L.maxPooling2d({ poolSize: 2 }).apply(conv);
  const out = L.dense({ units: 3, activation: 'softmax' }).apply(L.flatten().apply(pooled));
  return model({ inputs: input, outputs: out, seed: i });
}

/** build / compile / trainOnBatch / predict, `cycles` times; RSS samples every `every` cycles. */
export async function cycleRss(cycles: number, every: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < cycles; i++) {
    const m = tinyModel(i);
    m.compile({ optimizer: i % 2 ? 'adam' : 'sgd', loss: 'softmaxCrossEntropy' });
    const channels = 1 + (i % 3);
    const x = new Tensor(new Float32Array(4 * 64 * channels).fill(0.5), [4, 8, 8, channels]);
    await m.trainOnBatch(x, Int32Array.from([0, 1, 2, 1]));
    await m.predict(x);
    if ((i + 1) % every === 0) {
      // A full collection and the native finalizers it schedules: without
      // them each sample caught the heap wherever V8's schedule had left it.
      await releaseUnreachable();
      samples.push(rssMB());
    }
  }
  return samples;
}

async function cycles(count: number): Promise<boolean> {
  const every = Math.max(1, Math.floor(count / 20));
  const started = Date.now();
  const samples = await cycleRss(count, every);
  const settled = samples.slice(Math.floor(samples.length / 4));
  const growth = settled[settled.length - 1] - settled[0];
  console.log(`${count} cycles of build/compile/trainOnBatch/predict in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`RSS (MB, every ${every} cycles): ${samples.map((v) => v.toFixed(0)).join(' ')}`);
  console.log(`RSS after the first quarter: ${settled[0].toFixed(0)} -> ${settled[settled.length - 1].toFixed(0)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB), max ${Math.max(...settled).toFixed(0)} MB`);
  return growth < 50;
}

async function main(): Promise<void> {
  setNumThreads(Number(process.env.KILN_THREADS ?? 2));
  let ok = true;
  if (mode === 'serve' || mode === 'all') ok = (await serve(option('seconds', 20))) && ok;
  if (mode === 'cycles' || mode === 'all') ok = (await cycles(option('cycles', 10000))) && ok;
  console.log(ok ? 'soak: OK' : 'soak: FAILED');
  process.exit(ok ? 0 : 1);
}

if (require.main === module) void main();
