// The conv and pooling bindings' packed options (an Int32Array,
// lib/ops/conv.ts's packConv2DOptions, lib/ops/pooling.ts's packPool2DShape)
// against the options object: the same results bit for bit in every pass
// and path, and the same checks, with messages that name the field.
import t from 'tap';
import { loadAddon } from '../../lib/native';
import { packConv2DOptions, PACKED_CONV2D_FIELDS, type Conv2DBindingOptions, type Conv2DNativeOptions } from '../../lib/ops/conv';
import { packPool2DShape, PACKED_POOL2D_FIELDS, type Pool2dGeometry } from '../../lib/ops/pooling';

interface ConvAddon {
  conv2dForward(x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, o: Conv2DBindingOptions | unknown): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, o: Conv2DBindingOptions | unknown): void;
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null, o: Conv2DBindingOptions | unknown): void;
  maxPool2dForward(x: Float32Array, y: Float32Array, shape: unknown): void;
  maxPool2dBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, shape: unknown): void;
  avgPool2dForward(x: Float32Array, y: Float32Array, shape: unknown): void;
  avgPool2dBackward(dy: Float32Array, dx: Float32Array, shape: unknown): void;
}
const addon = loadAddon<ConvAddon>();

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

function options(overrides: Partial<Conv2DNativeOptions>): Conv2DNativeOptions {
  return {
    batch: 2, inH: 7, inW: 9, inC: 5, outC: 17, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1,
    padTop: 1, padBottom: 1, padLeft: 1, padRight: 1, dilationH: 1, dilationW: 1, ...overrides,
  };
}

const outSize = (o: Conv2DNativeOptions) => {
  const outH = Math.floor((o.inH + o.padTop + o.padBottom - (o.kernelH - 1) * o.dilationH - 1) / o.strideH) + 1;
  const outW = Math.floor((o.inW + o.padLeft + o.padRight - (o.kernelW - 1) * o.dilationW - 1) / o.strideW) + 1;
  return o.batch * outH * outW * o.outC;
};

const cases: Array<[string, Partial<Conv2DNativeOptions>]> = [
  ['3x3 same', {}],
  ['stride 2, uneven padding', { strideH: 2, strideW: 2, padTop: 0, padBottom: 2, padLeft: 1, padRight: 0 }],
  ['dilation 2 with relu', { dilationH: 2, dilationW: 2, padTop: 2, padBottom: 2, padLeft: 2, padRight: 2, relu: true }],
  ['1x1 pointwise, 16 channels', { kernelH: 1, kernelW: 1, inC: 16, outC: 16, padTop: 0, padBottom: 0, padLeft: 0, padRight: 0 }],
  ['1x1 stride 2', { kernelH: 1, kernelW: 1, strideH: 2, strideW: 2, padTop: 0, padBottom: 0, padLeft: 0, padRight: 0 }],
  ['im2col path', { algorithm: 1 }],
  ['direct path', { algorithm: 2, strideH: 3 }],
];

t.test('packed options == the options object, bit for bit', async (t) => {
  for (const [name, overrides] of cases) {
    const o = options(overrides);
    const packed = packConv2DOptions(o);
    t.equal(packed.length, PACKED_CONV2D_FIELDS, `${name}: ${PACKED_CONV2D_FIELDS} fields`);
    const x = values(o.batch * o.inH * o.inW * o.inC, 1);
    const w = values(o.kernelH * o.kernelW * o.inC * o.outC, 2);
    const b = values(o.outC, 3);
    const dy = values(outSize(o), 4);
    const run = (form: Conv2DBindingOptions) => {
      const y = new Float32Array(dy.length);
      const dx = new Float32Array(x.length);
      const dw = new Float32Array(w.length);
      const db = new Float32Array(o.outC);
      addon.conv2dForward(x, w, b, y, form);
      addon.conv2dBackwardData(dy, w, dx, form);
      addon.conv2dBackwardFilter(x, dy, dw, db, form);
      return { y: bits(y), dx: bits(dx), dw: bits(dw), db: bits(db) };
    };
    t.same(run(packed), run(o), `${name}: forward, backward data, backward filter and bias gradient`);
    // accumulate: gradInput += the result
    const start = values(x.length, 5);
    const fromObject = start.slice();
    const fromPacked = start.slice();
    addon.conv2dBackwardData(dy, w, fromObject, { ...o, accumulate: true });
    addon.conv2dBackwardData(dy, w, fromPacked, packConv2DOptions({ ...o, accumulate: true }));
    t.same(bits(fromPacked), bits(fromObject), `${name}: accumulated backward data`);
  }
});

t.test('packed options are checked like the object, naming the field', async (t) => {
  const o = options({});
  const x = values(o.batch * o.inH * o.inW * o.inC, 1);
  const w = values(o.kernelH * o.kernelW * o.inC * o.outC, 2);
  const y = new Float32Array(outSize(o));
  const forward = (packed: Int32Array) => () => addon.conv2dForward(x, w, null, y, packed);
  const withField = (index: number, value: number) => {
    const packed = packConv2DOptions(o);
    packed[index] = value;
    return packed;
  };
  t.throws(forward(new Int32Array(PACKED_CONV2D_FIELDS - 1)), { name: 'RangeError', message: /kiln\.conv2dForward: expected an Int32Array of length 18 for 'options' but received length 17/ });
  t.throws(forward(withField(7, 0)), { name: 'RangeError', message: /expected an integer in \[1, 2147483647\] for 'strideH' but received 0/ });
  t.throws(forward(withField(0, -3)), { name: 'RangeError', message: /for 'batch' but received -3/ });
  t.throws(forward(withField(12, -1)), { name: 'RangeError', message: /for 'padRight' but received -1/ });
  t.throws(forward(withField(15, 2)), { name: 'RangeError', message: /expected an integer in \[0, 1\] for 'relu' but received 2/ });
  t.throws(forward(withField(16, 3)), { name: 'RangeError', message: /for 'algorithm' but received 3/ });
  t.throws(forward(withField(5, 40)), { name: 'RangeError', message: /a kernel no larger than the padded input .* for 'kernelH'/ });
  // A wrong element count for the arrays is still caught against the packed shape.
  t.throws(forward(withField(0, 3)), { name: 'RangeError', message: /for 'input' but received length/ });
  // Any other typed array is not the packed form: it is refused as an options object.
  t.throws(() => addon.conv2dForward(x, w, null, y, new Float64Array(PACKED_CONV2D_FIELDS)), { name: 'TypeError', message: /expected an options object for 'options' but received a Float64Array/ });
});

const poolCases: Array<[string, Pool2dGeometry]> = [
  ['2x2 stride 2', { batch: 2, inH: 8, inW: 6, channels: 17, windowH: 2, windowW: 2, strideH: 2, strideW: 2, padTop: 0, padBottom: 0, padLeft: 0, padRight: 0 }],
  ['3x3 stride 2 padded', { batch: 1, inH: 7, inW: 9, channels: 5, windowH: 3, windowW: 3, strideH: 2, strideW: 2, padTop: 1, padBottom: 1, padLeft: 1, padRight: 1 }],
  ['3x2 stride 1, uneven padding', { batch: 3, inH: 5, inW: 4, channels: 33, windowH: 3, windowW: 2, strideH: 1, strideW: 1, padTop: 0, padBottom: 2, padLeft: 1, padRight: 0 }],
];

const poolOut = (g: Pool2dGeometry) =>
  g.batch * (Math.floor((g.inH + g.padTop + g.padBottom - g.windowH) / g.strideH) + 1) *
  (Math.floor((g.inW + g.padLeft + g.padRight - g.windowW) / g.strideW) + 1) * g.channels;

t.test('packed pooling shapes == the shape object, bit for bit', async (t) => {
  for (const [name, g] of poolCases) {
    const packed = packPool2DShape(g);
    t.equal(packed.length, PACKED_POOL2D_FIELDS, `${name}: ${PACKED_POOL2D_FIELDS} fields`);
    const x = values(g.batch * g.inH * g.inW * g.channels, 6);
    const dy = values(poolOut(g), 7);
    const run = (form: unknown) => {
      const maxOut = new Float32Array(dy.length), avgOut = new Float32Array(dy.length);
      const maxGrad = new Float32Array(x.length), avgGrad = new Float32Array(x.length);
      addon.maxPool2dForward(x, maxOut, form);
      addon.avgPool2dForward(x, avgOut, form);
      addon.maxPool2dBackward(x, dy, maxGrad, form);
      addon.avgPool2dBackward(dy, avgGrad, form);
      return [maxOut, avgOut, maxGrad, avgGrad].map(bits);
    };
    t.same(run(packed), run(g), `${name}: max and average pooling, forward and backward`);
  }
});

t.test('packed pooling shapes are checked like the object, naming the field', async (t) => {
  const g = poolCases[0][1];
  const x = values(g.batch * g.inH * g.inW * g.channels, 6);
  const y = new Float32Array(poolOut(g));
  const forward = (packed: Int32Array) => () => addon.maxPool2dForward(x, y, packed);
  const withField = (index: number, value: number) => {
    const packed = packPool2DShape(g);
    packed[index] = value;
    return packed;
  };
  t.throws(forward(new Int32Array(PACKED_POOL2D_FIELDS + 1)), { name: 'RangeError', message: /kiln\.maxPool2dForward: expected an Int32Array of length 12 for 'shape' but received length 13/ });
  t.throws(forward(withField(6, 0)), { name: 'RangeError', message: /for 'strideH' but received 0/ });
  t.throws(forward(withField(3, 0)), { name: 'RangeError', message: /for 'channels' but received 0/ });
  t.throws(forward(withField(11, -2)), { name: 'RangeError', message: /for 'padRight' but received -2/ });
  t.throws(forward(withField(4, 9)), { name: 'RangeError', message: /window height no larger than the padded input height 8 .* for 'windowH' but received 9/ });
  t.throws(forward(withField(0, 5)), { name: 'RangeError', message: /for 'input' but received length/ });
});
