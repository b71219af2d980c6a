// Fuzzes every synchronous function the addon exports: each starts from a
// small valid call and gets one argument (or one option, or the argument
// count) replaced by something hostile: wrong types, wrong lengths, detached
// buffers, negative / zero / NaN / huge / fractional sizes, shapes whose
// products overflow 32 and 64 bits. The process must survive and each failure
// must be a kiln error. Valid calls on unusual memory (SharedArrayBuffer,
// offset views, resizable buffers, input aliased to output) must work.
import t from 'tap';
import { loadAddon } from '../../lib/native';
import {
  checkError, detachedFloat32, expectCleanOutcome, fc, hostileValues, offsetFloat32, overflowDimensions, resizableFloat32, runs,
  sharedFloat32, show, badNumbers,
} from './hostile';

type Fn = (...args: unknown[]) => unknown;
const addon = loadAddon<Record<string, Fn>>();

function filled(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
}

interface Signature {
  /** A fresh valid argument list. */
  valid(): unknown[];
  /** Indices of arguments that are outputs (written), for aliasing. */
  outputs: number[];
  /** Index of the options object, if any, and its size-like properties. */
  options?: { index: number; sizes: string[] };
  /** Positional integer size arguments. */
  sizeArgs?: number[];
}

const conv = { batch: 2, inH: 5, inW: 4, inC: 3, outC: 2, kernelH: 3, kernelW: 2, strideH: 2, strideW: 1, padTop: 1, padBottom: 0, padLeft: 1, padRight: 1, dilationH: 1, dilationW: 1 };
const convOut = { outH: Math.floor((5 + 1 - 3) / 2) + 1, outW: 4 + 2 - 2 + 1 };
const convIn = 2 * 5 * 4 * 3;
const convFilter = 3 * 2 * 3 * 2;
const convOutput = 2 * convOut.outH * convOut.outW * 2;
const convSizes = Object.keys(conv);

const pool = { batch: 2, inH: 5, inW: 4, channels: 3, windowH: 2, windowW: 3, strideH: 2, strideW: 1, padTop: 1, padBottom: 0, padLeft: 1, padRight: 1 };
const poolOutH = Math.floor((5 + 1 - 2) / 2) + 1;
const poolOutW = 4 + 2 - 3 + 1;
const poolIn = 2 * 5 * 4 * 3;
const poolOut = 2 * poolOutH * poolOutW * 3;
const poolSizes = Object.keys(pool);

const rows = 6;
const classes = 5;
const labels = () => Int32Array.from({ length: rows }, (_, i) => (i * 3) % classes);

const signatures: Record<string, Signature> = {
  backend: { valid: () => [], outputs: [] },
  setNumThreads: { valid: () => [2], outputs: [], sizeArgs: [0] },
  setIsa: { valid: () => ['scalar'], outputs: [] },
  conv2dForward: { valid: () => [filled(convIn, 1), filled(convFilter, 2), filled(2, 3), new Float32Array(convOutput), { ...conv }], outputs: [3], options: { index: 4, sizes: convSizes } },
  conv2dBackwardData: { valid: () => [filled(convOutput, 1), filled(convFilter, 2), new Float32Array(convIn), { ...conv }], outputs: [2], options: { index: 3, sizes: convSizes } },
  conv2dBackwardFilter: { valid: () => [filled(convIn, 1), filled(convOutput, 2), new Float32Array(convFilter), new Float32Array(2), { ...conv }], outputs: [2, 3], options: { index: 4, sizes: convSizes } },
  maxPool2dForward: { valid: () => [filled(poolIn, 1), new Float32Array(poolOut), { ...pool }], outputs: [1], options: { index: 2, sizes: poolSizes } },
  maxPool2dBackward: { valid: () => [filled(poolIn, 1), filled(poolOut, 2), new Float32Array(poolIn), { ...pool }], outputs: [2], options: { index: 3, sizes: poolSizes } },
  avgPool2dForward: { valid: () => [filled(poolIn, 1), new Float32Array(poolOut), { ...pool }], outputs: [1], options: { index: 2, sizes: poolSizes } },
  avgPool2dBackward: { valid: () => [filled(poolOut, 2), new Float32Array(poolIn), { ...pool }], outputs: [1], options: { index: 2, sizes: poolSizes } },
  globalAvgPoolForward: { valid: () => [filled(2 * 7 * 3, 1), new Float32Array(2 * 3), 2, 7, 3], outputs: [1], sizeArgs: [2, 3, 4] },
  globalAvgPoolBackward: { valid: () => [filled(2 * 3, 1), new Float32Array(2 * 7 * 3), 2, 7, 3], outputs: [1], sizeArgs: [2, 3, 4] },
  activationForward: { valid: () => ['tanh', filled(11, 1), new Float32Array(11)], outputs: [2] },
  activationBackward: { valid: () => ['sigmoid', filled(11, 1), filled(11, 2), new Float32Array(11)], outputs: [3] },
  biasAdd: { valid: () => [filled(4 * 3, 1), filled(3, 2), 4, 3], outputs: [0], sizeArgs: [2, 3] },
  biasGradient: { valid: () => [filled(4 * 3, 1), new Float32Array(3), 4, 3], outputs: [1], sizeArgs: [2, 3] },
  add: { valid: () => [filled(9, 1), filled(9, 2), new Float32Array(9)], outputs: [2] },
  axpy: { valid: () => [0.5, filled(9, 1), filled(9, 2)], outputs: [2] },
  scale: { valid: () => [0.5, filled(9, 1)], outputs: [1] },
  softmaxForward: { valid: () => [filled(rows * classes, 1), new Float32Array(rows * classes), rows, classes], outputs: [1], sizeArgs: [2, 3] },
  softmaxBackward: { valid: () => [filled(rows * classes, 1), filled(rows * classes, 2), new Float32Array(rows * classes), rows, classes], outputs: [2], sizeArgs: [3, 4] },
  softmaxCrossEntropy: { valid: () => [filled(rows * classes, 1), labels(), new Float32Array(rows * classes), rows, classes], outputs: [2], sizeArgs: [3, 4] },
  softmaxCrossEntropySoft: { valid: () => [filled(rows * classes, 1), filled(rows * classes, 2), new Float32Array(rows * classes), rows, classes], outputs: [2], sizeArgs: [3, 4] },
  meanSquaredError: { valid: () => [filled(rows * classes, 1), filled(rows * classes, 2), new Float32Array(rows * classes), rows, classes], outputs: [2], sizeArgs: [3, 4] },
  batchNormForwardTraining: {
    valid: () => [filled(8 * 3, 1), filled(3, 2), filled(3, 3), new Float32Array(8 * 3), new Float32Array(3), new Float32Array(3), new Float32Array(3), new Float32Array(3).fill(1), 8, 3, 1e-3, 0.1],
    outputs: [3, 4, 5, 6, 7], sizeArgs: [8, 9],
  },
  batchNormForwardInference: {
    valid: () => [filled(8 * 3, 1), filled(3, 2), filled(3, 3), filled(3, 4), new Float32Array(3).fill(1), new Float32Array(8 * 3), 8, 3, 1e-3],
    outputs: [5], sizeArgs: [6, 7],
  },
  batchNormBackward: {
    valid: () => [filled(8 * 3, 1), filled(8 * 3, 2), filled(3, 3), filled(3, 4), new Float32Array(3).fill(1), new Float32Array(8 * 3), new Float32Array(3), new Float32Array(3), 8, 3],
    outputs: [5, 6, 7], sizeArgs: [8, 9],
  },
  batchNormActivationForwardTraining: {
    valid: () => ['relu', filled(8 * 3, 1), filled(3, 2), filled(3, 3), new Float32Array(8 * 3), new Float32Array(3), new Float32Array(3), new Float32Array(3), new Float32Array(3).fill(1), 8, 3, 1e-3, 0.1],
    outputs: [4, 5, 6, 7, 8], sizeArgs: [9, 10],
  },
  batchNormActivationForwardInference: {
    valid: () => ['tanh', filled(8 * 3, 1), filled(3, 2), filled(3, 3), filled(3, 4), new Float32Array(3).fill(1), new Float32Array(8 * 3), 8, 3, 1e-3],
    outputs: [6], sizeArgs: [7, 8],
  },
  batchNormActivationBackward: {
    valid: () => ['relu', filled(8 * 3, 1), filled(8 * 3, 5), filled(8 * 3, 2), filled(3, 3), filled(3, 4), new Float32Array(3).fill(1), new Float32Array(8 * 3), new Float32Array(3), new Float32Array(3), 8, 3],
    outputs: [7, 8, 9], sizeArgs: [10, 11],
  },
  addActivationForward: { valid: () => ['relu', filled(9, 1), filled(9, 2), new Float32Array(9)], outputs: [3] },
  activationBackwardTo: { valid: () => ['sigmoid', filled(9, 1), filled(9, 2), new Float32Array(9), false, new Float32Array(9), true], outputs: [3, 5] },
  gemm: { valid: () => [false, true, 3, 4, 5, 1.5, filled(3 * 5, 1), 5, filled(4 * 5, 2), 5, 0, new Float32Array(3 * 4), 4], outputs: [11], sizeArgs: [2, 3, 4, 7, 9, 12] },
  gemmKernelInfo: { valid: () => [], outputs: [] },
  // A timing measurement: its arguments are no dimensions and its result varies.
  measureFmaPeak: { valid: () => ['scalar', 1, 1], outputs: [] },
  dropoutForward: { valid: () => [filled(13, 1), new Float32Array(13), new Float32Array(13), 0.25, 7, 3], outputs: [1, 2], sizeArgs: [4, 5] },
  dropoutBackward: { valid: () => [filled(13, 1), filled(13, 2), new Float32Array(13)], outputs: [2] },
  sgdUpdate: { valid: () => [filled(10, 1), filled(10, 2), new Float32Array(10), 0.1, 0.9, true, 1e-4], outputs: [0, 2] },
  adamUpdate: { valid: () => [filled(10, 1), filled(10, 2), new Float32Array(10), new Float32Array(10), 1e-3, 0.9, 0.999, 1e-7, 0, false, 3], outputs: [0, 2, 3], sizeArgs: [10] },
};
// The *Reference versions share their fast twin's signature.
for (const name of Object.keys(signatures)) {
  if (addon[`${name}Reference`]) signatures[`${name}Reference`] = signatures[name];
}

const before = (addon.backend as () => { isa: string; threads: number })();
t.teardown(() => {
  addon.setIsa(before.isa);
  addon.setNumThreads(before.threads);
});
const restoreRuntime = () => {
  addon.setIsa(before.isa);
  addon.setNumThreads(before.threads);
};

const eagerNames = Object.keys(addon).filter((name) => name !== 'Plan');

t.test('every eager export has a signature here (new exports must be fuzzed too)', async (t) => {
  for (const name of eagerNames) t.ok(signatures[name], `signature for ${name}`);
});

t.test('each valid call succeeds', async (t) => {
  for (const name of eagerNames) {
    if (!signatures[name]) continue;
    t.doesNotThrow(() => addon[name](...signatures[name].valid()), name);
  }
  restoreRuntime();
});

t.test('one hostile argument: a kiln error or success, never a crash', async (t) => {
  const names = eagerNames.filter((name) => signatures[name]);
  let threw = 0;
  fc.assert(
    fc.property(fc.constantFrom(...names), fc.nat(), fc.nat(), (name, argPick, valuePick) => {
      const args = signatures[name].valid();
      if (args.length === 0) {
        args.push(undefined);
      }
      const index = argPick % args.length;
      const original = args[index];
      const length = ArrayBuffer.isView(original) ? (original as Float32Array).length : 4;
      const values = hostileValues(length);
      args[index] = values[valuePick % values.length];
      const outcome = expectCleanOutcome(() => `${name} with argument ${index} = ${show(args[index])}`, () => addon[name](...args));
      if (outcome === 'threw') threw++;
      restoreRuntime();
    }),
    { numRuns: runs(6000), seed: 20261123 },
  );
  t.ok(threw > 0, `hostile arguments were rejected (${threw} times)`);
});

t.test('hostile option values and size arguments', async (t) => {
  const names = eagerNames.filter((name) => signatures[name]?.options || signatures[name]?.sizeArgs);
  fc.assert(
    fc.property(fc.constantFrom(...names), fc.nat(), fc.constantFrom(...badNumbers, ...overflowDimensions, 'x', null, undefined), (name, pick, value) => {
      const signature = signatures[name];
      const args = signature.valid();
      let where: string;
      if (signature.options) {
        const key = signature.options.sizes[pick % signature.options.sizes.length];
        (args[signature.options.index] as Record<string, unknown>)[key] = value;
        where = `option ${key}`;
      } else {
        const index = signature.sizeArgs![pick % signature.sizeArgs!.length];
        args[index] = value;
        where = `argument ${index}`;
      }
      expectCleanOutcome(() => `${name} with ${where} = ${show(value)}`, () => addon[name](...args));
      restoreRuntime();
    }),
    { numRuns: runs(4000), seed: 7 },
  );
});

t.test('shapes whose element counts overflow 32 and 64 bits are rejected before any kernel runs', async (t) => {
  // Positional integers of dropoutForward (seed, step) and adamUpdate (step) are not dimensions.
  const notDimensions = new Set(['dropoutForward', 'adamUpdate', 'setNumThreads']);
  const names = eagerNames.filter((name) => !notDimensions.has(name) && (signatures[name]?.options || (signatures[name]?.sizeArgs?.length ?? 0) >= 2));
  fc.assert(
    fc.property(fc.constantFrom(...names), fc.array(fc.constantFrom(...overflowDimensions, 1, 2, 3), { minLength: 2, maxLength: 8 }), (name, dims) => {
      const signature = signatures[name];
      const args = signature.valid();
      const keys = signature.options ? signature.options.sizes : signature.sizeArgs!.map(String);
      keys.forEach((key, i) => {
        const value = dims[i % dims.length];
        if (signature.options) (args[signature.options.index] as Record<string, number>)[key] = value;
        else args[Number(key)] = value;
      });
      const outcome = expectCleanOutcome(() => `${name} with sizes ${dims}`, () => addon[name](...args));
      // Small arrays cannot hold such shapes: the call must fail (a shape of all
      // 1-3 can be valid for a few functions, so only huge ones are asserted).
      if (dims.some((d) => d > 2 ** 16) && outcome === 'ok') throw new Error(`${name} accepted sizes ${dims} with small arrays`);
    }),
    { numRuns: runs(2000), seed: 11 },
  );
});

t.test('truncated argument lists', async (t) => {
  for (const name of eagerNames) {
    if (!signatures[name]) continue;
    const args = signatures[name].valid();
    for (let count = 0; count < args.length; count++) {
      expectCleanOutcome(() => `${name} with ${count} arguments`, () => addon[name](...args.slice(0, count)));
      restoreRuntime();
    }
  }
  t.pass('no crash');
});

t.test('detached buffers get a clear error naming the argument', async (t) => {
  for (const name of eagerNames) {
    const signature = signatures[name];
    if (!signature) continue;
    const args0 = signature.valid();
    args0.forEach((arg, index) => {
      if (!(arg instanceof Float32Array)) return;
      const args = signature.valid();
      args[index] = detachedFloat32(arg.length);
      try {
        addon[name](...args);
        t.fail(`${name} accepted a detached buffer as argument ${index}`);
      } catch (error) {
        checkError(() => `${name} detached argument ${index}`, error);
        t.match((error as Error).message, /detached|length|received/, `${name} argument ${index}`);
      }
    });
  }
});

t.test('SharedArrayBuffer, offset and resizable views give the same results as plain arrays', async (t) => {
  for (const name of eagerNames) {
    const signature = signatures[name];
    if (!signature || ['setIsa', 'setNumThreads', 'backend', 'measureFmaPeak'].includes(name)) continue;
    const reference = signature.valid();
    const expected = addon[name](...reference);
    for (const [label, wrap] of [['shared', sharedFloat32], ['offset', offsetFloat32], ['resizable', resizableFloat32]] as const) {
      const args = signature.valid().map((arg) => (arg instanceof Float32Array ? wrap(arg.length, arg) : arg));
      let result: unknown;
      try {
        result = addon[name](...args);
      } catch (error) {
        t.fail(`${name} on ${label} arrays threw ${(error as Error).message}`);
        continue;
      }
      t.same(result, expected, `${name} ${label}: same return value`);
      args.forEach((arg, i) => {
        if (arg instanceof Float32Array) t.same(Array.from(arg), Array.from(reference[i] as Float32Array), `${name} ${label}: argument ${i} matches`);
      });
    }
  }
});

t.test('aliased inputs and outputs: no crash, results finite where inputs are', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...eagerNames.filter((name) => signatures[name]?.outputs.length)), fc.nat(), fc.nat(), (name, outPick, inPick) => {
      const signature = signatures[name];
      const args = signature.valid();
      const out = signature.outputs[outPick % signature.outputs.length];
      const sameLength = args
        .map((arg, i) => [arg, i] as const)
        .filter(([arg, i]) => i !== out && arg instanceof Float32Array && arg.length === (args[out] as Float32Array).length);
      if (sameLength.length === 0) return;
      const [source, i] = sameLength[inPick % sameLength.length];
      args[out] = source;
      expectCleanOutcome(() => `${name} with output ${out} aliased to argument ${i}`, () => addon[name](...args));
    }),
    { numRuns: runs(1000), seed: 3 },
  );
  // Overlapping (not identical) views of one buffer.
  const buffer = new Float32Array(20).fill(0.25);
  expectCleanOutcome(() => 'add on overlapping views', () => addon.add(buffer.subarray(0, 10), buffer.subarray(5, 15), buffer.subarray(3, 13)));
  t.ok(buffer.every(Number.isFinite), 'overlapping add stays finite');
});

t.test('huge windows and paddings stay fast and bounded', async (t) => {
  const big = 2 ** 31 - 1;
  for (const name of ['maxPool2dForward', 'avgPool2dForward', 'maxPool2dForwardReference', 'avgPool2dForwardReference']) {
    const out = new Float32Array(1);
    expectCleanOutcome(() => name, () =>
      addon[name](new Float32Array(1), out, { batch: 1, inH: 1, inW: 1, channels: 1, windowH: 2 ** 30, windowW: 2 ** 30, strideH: big, strideW: big, padTop: 2 ** 30, padBottom: 2 ** 30, padLeft: 2 ** 30, padRight: 2 ** 30 }),
    );
  }
  // A 1x1 image padded to 2^32 x 2^32 (its padded size overflows 64 bits) and a
  // dilated kernel over a 2^16-padded image: refused, not allocated.
  for (const name of ['conv2dForward', 'conv2dBackwardData', 'conv2dBackwardFilter']) {
    for (const algorithm of [0, 1, 2]) {
      const shapes = [
        { batch: 1, inH: 1, inW: 1, inC: 1, outC: 1, kernelH: 1, kernelW: 1, strideH: big, strideW: big, padTop: big, padBottom: big, padLeft: big, padRight: big },
        { batch: 1, inH: 1, inW: 1, inC: 1, outC: 1, kernelH: 2, kernelW: 2, dilationH: 65536, dilationW: 65536, padTop: 65536, padLeft: 65536, strideH: big, strideW: big },
      ];
      for (const shape of shapes) {
        const s = { ...shape, algorithm } as unknown as Record<string, number>;
        const outH = Math.floor((s.inH + (s.padTop ?? 0) + (s.padBottom ?? 0) - (s.dilationH ?? 1) * (s.kernelH - 1) - 1) / s.strideH) + 1;
        const outW = Math.floor((s.inW + (s.padLeft ?? 0) + (s.padRight ?? 0) - (s.dilationW ?? 1) * (s.kernelW - 1) - 1) / s.strideW) + 1;
        const input = new Float32Array(1);
        const filter = new Float32Array(s.kernelH * s.kernelW);
        const output = new Float32Array(outH * outW);
        const args =
          name === 'conv2dForward' ? [input, filter, null, output, s] : name === 'conv2dBackwardData' ? [output, filter, input, s] : [input, output, filter, null, s];
        const outcome = expectCleanOutcome(() => `${name} ${JSON.stringify(s)}`, () => addon[name](...args));
        t.equal(outcome, 'threw', `${name} algorithm ${algorithm} refuses padding that dwarfs its input`);
      }
    }
  }
});
