// Memory stays flat across many build / compile / train / predict cycles:
// dropped models free their native plans (the plan reports its size to V8 so
// the garbage collector runs in time). A bounded version of scripts/soak.ts.
import t from 'tap';
import { lenet5 } from '../../lib/model/zoo';
import { Tensor } from '../../lib/tensor';
import { cycleRss } from '../../scripts/soak';
import { releaseUnreachable } from '../../lib/bench/memory';

const rssMB = () => process.memoryUsage().rss / 2 ** 20;
const median3 = (values: number[]) => [...values].sort((a, b) => a - b)[1];
// Growth from the settled start (samples 1-3) to the end (the last 3), each
// the median of three samples: one reading caught mid-way through a
// collection or an allocator trim cannot decide the result alone.
const settledGrowth = (samples: number[]) => median3(samples.slice(-3)) - median3(samples.slice(1, 4));
// Under AddressSanitizer freed memory sits in its quarantine (256 MB by
// default), so RSS measures the sanitizer's allocator, not kiln's: there the
// bounds only catch runaway growth.
const slack = process.env.KILN_SANITIZER === '1' ? 4 : 1;

t.test('500 cycles of build / compile / trainOnBatch / predict on small models', async (t) => {
  const samples = await cycleRss(500, 50);
  const growth = settledGrowth(samples);
  t.comment(`RSS every 50 cycles (MB): ${samples.map((v) => v.toFixed(0)).join(' ')}`);
  t.ok(growth < 40 * slack, `RSS grew ${growth.toFixed(1)} MB after the first 100 cycles`);
});

t.test('250 dropped lenet5 models with batch-64 plans do not pile up', async (t) => {
  // Each plan holds ~6 MB of native buffers. Unreported, V8 never felt that
  // memory and the RSS climbed by ~1 MB per model (to 550 MB at 400 models).
  const x = new Tensor(new Float32Array(64 * 784).fill(0.3), [64, 28, 28, 1]);
  const y = Int32Array.from({ length: 64 }, (_, i) => i % 10);
  const samples: number[] = [];
  for (let i = 0; i < 250; i++) {
    const m = lenet5({ seed: i });
    m.compile({ optimizer: 'adam', loss: 'softmaxCrossEntropy' });
    await m.trainOnBatch(x, y);
    if (i % 25 === 24) {
      await releaseUnreachable();
      samples.push(rssMB());
    }
  }
  const growth = settledGrowth(samples);
  t.comment(`RSS every 25 models (MB): ${samples.map((v) => v.toFixed(0)).join(' ')}`);
  t.ok(growth < 100 * slack, `RSS grew ${growth.toFixed(1)} MB from model 50 to model 250`);
});
