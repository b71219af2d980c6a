// The fast pooling kernels against the plain-loop references (both in the
// addon), on awkward shapes: batch 1, odd sizes, windows 2 and 3, strides
// 1 to 3, asymmetric padding, channel counts around the vector widths and the
// 64-channel backward block.
import t from 'tap';
import { loadAddon } from '../../lib/native';
import { backend, setNumThreads } from '../../lib/backend';

interface Shape {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  windowH: number;
  windowW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
}
type Forward = (input: Float32Array, output: Float32Array, shape: Shape) => void;
type MaxBackward = (input: Float32Array, gradOutput: Float32Array, gradInput: Float32Array, shape: Shape) => void;
type AvgBackward = (gradOutput: Float32Array, gradInput: Float32Array, shape: Shape) => void;
interface Addon {
  maxPool2dForward: Forward;
  maxPool2dForwardReference: Forward;
  avgPool2dForward: Forward;
  avgPool2dForwardReference: Forward;
  maxPool2dBackward: MaxBackward;
  maxPool2dBackwardReference: MaxBackward;
  avgPool2dBackward: AvgBackward;
  avgPool2dBackwardReference: AvgBackward;
  globalAvgPoolForward(input: Float32Array, output: Float32Array, batch: number, spatial: number, channels: number): void;
  globalAvgPoolBackward(gradOutput: Float32Array, gradInput: Float32Array, batch: number, spatial: number, channels: number): void;
}
const addon = loadAddon<Addon>();

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

function randomArray(length: number, random: () => number, ties = false): Float32Array {
  // With ties, values come from a small set so equal maxima are common and
  // the "first maximum" rule is exercised.
  return Float32Array.from({ length }, () => (ties ? Math.floor(random() * 4) : random() * 2 - 1));
}

function outSize(input: number, padA: number, padB: number, window: number, stride: number): number {
  return Math.floor((input + padA + padB - window) / stride) + 1;
}

function shapeOf(batch: number, inH: number, inW: number, channels: number, window: number, stride: number, pads: [number, number, number, number]): Shape {
  return {
    batch, inH, inW, channels,
    windowH: window, windowW: window, strideH: stride, strideW: stride,
    padTop: pads[0], padBottom: pads[1], padLeft: pads[2], padRight: pads[3],
  };
}

const cases: Shape[] = [];
{
  const channelCounts = [1, 3, 7, 17, 65];
  const geometries: [number, number, number, number, [number, number, number, number]][] = [
    // batch, inH, inW, window/stride..., pads
    [1, 5, 7, 2, [0, 0, 0, 0]],
    [2, 7, 5, 3, [1, 1, 1, 1]],
    [1, 9, 8, 3, [0, 1, 2, 0]],
    [3, 6, 6, 2, [1, 0, 0, 1]],
    [1, 1, 4, 1, [0, 0, 0, 0]],
  ];
  let index = 0;
  for (const [batch, inH, inW, window, pads] of geometries) {
    for (const stride of [1, 2, 3]) {
      const channels = channelCounts[index++ % channelCounts.length];
      cases.push(shapeOf(batch, inH, inW, channels, window, stride, pads));
    }
  }
  // Rectangular windows and strides.
  cases.push({ ...shapeOf(2, 8, 11, 65, 1, 1, [0, 1, 1, 0]), windowH: 2, windowW: 3, strideH: 1, strideW: 2 });
  cases.push({ ...shapeOf(1, 10, 6, 130, 1, 1, [1, 1, 0, 0]), windowH: 3, windowW: 2, strideH: 3, strideW: 1 });
}

function lengths(s: Shape): { input: number; output: number } {
  const outH = outSize(s.inH, s.padTop, s.padBottom, s.windowH, s.strideH);
  const outW = outSize(s.inW, s.padLeft, s.padRight, s.windowW, s.strideW);
  return { input: s.batch * s.inH * s.inW * s.channels, output: s.batch * outH * outW * s.channels };
}

function label(s: Shape): string {
  return `N${s.batch} ${s.inH}x${s.inW}x${s.channels} window ${s.windowH}x${s.windowW} stride ${s.strideH}x${s.strideW} pads ${s.padTop},${s.padBottom},${s.padLeft},${s.padRight}`;
}

function maxRelativeError(actual: Float32Array, expected: Float32Array): number {
  let scale = 1e-30;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / scale);
  return worst;
}

// Index of the first element whose bits differ, or -1 (tap's deep compare is slow on big arrays).
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

function runAll(s: Shape, random: () => number, ties: boolean) {
  const { input: inLength, output: outLength } = lengths(s);
  const input = randomArray(inLength, random, ties);
  const gradOutput = randomArray(outLength, random);
  const result = (forward: Forward) => {
    const out = new Float32Array(outLength).fill(NaN);
    forward(input, out, s);
    return out;
  };
  const maxBack = (backward: MaxBackward) => {
    const g = new Float32Array(inLength).fill(NaN);
    backward(input, gradOutput, g, s);
    return g;
  };
  const avgBack = (backward: AvgBackward) => {
    const g = new Float32Array(inLength).fill(NaN);
    backward(gradOutput, g, s);
    return g;
  };
  return {
    maxForward: [result(addon.maxPool2dForward), result(addon.maxPool2dForwardReference)],
    avgForward: [result(addon.avgPool2dForward), result(addon.avgPool2dForwardReference)],
    maxBackward: [maxBack(addon.maxPool2dBackward), maxBack(addon.maxPool2dBackwardReference)],
    avgBackward: [avgBack(addon.avgPool2dBackward), avgBack(addon.avgPool2dBackwardReference)],
  };
}

t.test('fast pooling matches the reference on awkward shapes', async (t) => {
  const random = mulberry32(7);
  for (const s of cases) {
    for (const ties of [false, true]) {
      const r = runAll(s, random, ties);
      const name = `${label(s)}${ties ? ' (ties)' : ''}`;
      t.equal(firstDifference(r.maxForward[0], r.maxForward[1]), -1, `max forward ${name}`);
      t.ok(maxRelativeError(r.maxBackward[0], r.maxBackward[1]) < 1e-6, `max backward ${name}`);
      t.ok(maxRelativeError(r.avgForward[0], r.avgForward[1]) < 1e-6, `avg forward ${name}`);
      t.ok(maxRelativeError(r.avgBackward[0], r.avgBackward[1]) < 1e-6, `avg backward ${name}`);
    }
  }
});

t.test('max backward routes to the first of equal maxima', async (t) => {
  // One 2x2 window of equal values: all gradient to the top-left.
  const s = shapeOf(1, 2, 2, 1, 2, 2, [0, 0, 0, 0]);
  const g = new Float32Array(4);
  addon.maxPool2dBackward(new Float32Array([5, 5, 5, 5]), new Float32Array([3]), g, s);
  t.same(Array.from(g), [3, 0, 0, 0]);
  // Padding never wins, even over negative values.
  const padded = shapeOf(1, 1, 1, 1, 3, 1, [1, 1, 1, 1]);
  const out = new Float32Array(1);
  addon.maxPool2dForward(new Float32Array([-4]), out, padded);
  t.equal(out[0], -4);
  addon.avgPool2dForward(new Float32Array([-4]), out, padded);
  t.equal(out[0], -4, 'padding is left out of the average');
});

t.test('a window entirely in padding gives 0 and routes nothing', async (t) => {
  // pad 2 >= window 2: the first output's window covers only padding.
  const s = shapeOf(1, 2, 2, 2, 2, 2, [2, 0, 2, 0]);
  const input = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  for (const forward of [addon.maxPool2dForward, addon.maxPool2dForwardReference, addon.avgPool2dForward, addon.avgPool2dForwardReference]) {
    const out = new Float32Array(2 * 2 * 2).fill(NaN);
    forward(input, out, s);
    t.same(Array.from(out.subarray(0, 2)), [0, 0]);
  }
  const g = new Float32Array(8).fill(NaN);
  addon.maxPool2dBackward(input, new Float32Array(8).fill(1), g, s);
  t.same(Array.from(g), [0, 0, 0, 0, 0, 0, 1, 1], 'three windows are all padding; the one full window sends its gradient to its maximum at (1, 1)');
});

t.test('pooling results do not depend on the thread count', async (t) => {
  const threads = backend().threads;
  // Large enough that the kernels really split (batch * outH rows, batch * channel blocks).
  const s = shapeOf(4, 30, 30, 130, 3, 1, [1, 1, 1, 1]);
  const results: ReturnType<typeof runAll>[] = [];
  for (const count of [1, 2]) {
    setNumThreads(count);
    results.push(runAll(s, mulberry32(3), false));
  }
  setNumThreads(threads);
  for (const key of ['maxForward', 'avgForward', 'maxBackward', 'avgBackward'] as const) {
    t.equal(firstDifference(results[0][key][0], results[1][key][0]), -1, `${key}: 1 vs 2 threads bitwise`);
    t.ok(maxRelativeError(results[0][key][0], results[0][key][1]) < 1e-6, `${key} matches the reference`);
  }
});

t.test('global average pooling', async (t) => {
  const random = mulberry32(5);
  for (const [batch, spatial, channels] of [[1, 1, 1], [2, 9, 7], [3, 64, 65], [1, 49, 17]]) {
    const input = randomArray(batch * spatial * channels, random);
    const out = new Float32Array(batch * channels);
    addon.globalAvgPoolForward(input, out, batch, spatial, channels);
    const expected = new Float32Array(batch * channels);
    for (let n = 0; n < batch; n++)
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let s = 0; s < spatial; s++) sum += input[(n * spatial + s) * channels + c];
        expected[n * channels + c] = sum / spatial;
      }
    t.ok(maxRelativeError(out, expected) < 1e-5, `forward ${batch}x${spatial}x${channels}`);
    const gradOutput = randomArray(batch * channels, random);
    const gradInput = new Float32Array(batch * spatial * channels);
    addon.globalAvgPoolBackward(gradOutput, gradInput, batch, spatial, channels);
    let worst = 0;
    for (let i = 0; i < gradInput.length; i++) {
      const n = Math.floor(i / (spatial * channels));
      const c = i % channels;
      worst = Math.max(worst, Math.abs(gradInput[i] - gradOutput[n * channels + c] / spatial));
    }
    t.ok(worst < 1e-6, `backward ${batch}x${spatial}x${channels}`);
  }
});

t.test('the native side rejects bad arguments', async (t) => {
  const s = shapeOf(1, 4, 4, 2, 2, 2, [0, 0, 0, 0]);
  const input = new Float32Array(32);
  const output = new Float32Array(8);
  t.throws(() => addon.maxPool2dForward(new Float64Array(32) as unknown as Float32Array, output, s), {
    name: 'TypeError',
    message: /kiln.maxPool2dForward: expected a Float32Array for 'input' but received a Float64Array/,
  });
  t.throws(() => addon.maxPool2dForward(input, new Float32Array(9), s), {
    name: 'RangeError',
    message: /expected a Float32Array of length 8 for 'output' but received length 9/,
  });
  t.throws(() => addon.maxPool2dForward(input, output, { ...s, strideH: 0 }), /expected an integer in \[1, \d+\] for 'strideH' but received 0/);
  t.throws(() => addon.avgPool2dForward(input, output, { ...s, windowW: 5 }), /kiln.avgPool2dForward: expected a window width no larger than the padded input width 4 \(inW 4 \+ padLeft 0 \+ padRight 0\) for 'windowW' but received 5/);
  t.throws(() => addon.maxPool2dBackward(input, output, new Float32Array(31), s), /'gradInput' but received length 31/);
  t.throws(() => addon.avgPool2dBackward(output, input, { ...s, padTop: -1 }), /'padTop' but received -1/);
  t.throws(() => addon.maxPool2dForward(input, output, undefined as unknown as Shape), /expected an options object for 'shape' but received undefined/);
  const { batch: _omitted, ...noBatch } = s;
  t.throws(() => addon.maxPool2dForward(input, output, noBatch as Shape), /for 'batch' but received undefined/);
  t.throws(() => addon.globalAvgPoolForward(input, output, 1, 16, 3), /'input' but received length 32/);
  t.throws(() => addon.globalAvgPoolBackward(output, input, 1, 16, 0), /'channels' but received 0/);
});
