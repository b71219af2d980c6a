// The fast convolution paths (auto, im2col+GEMM, direct SIMD) against the plain
// C++ reference loops, for all three passes, on awkward and real-layer shapes.
import t, { Test } from 'tap';
import { loadAddon } from '../../lib/native';
import type { Conv2DNativeOptions } from '../../lib/ops/conv';

interface ConvAddon {
  conv2dForward(x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null, o: Conv2DNativeOptions): void;
  conv2dForwardReference(x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardDataReference(dy: Float32Array, w: Float32Array, dx: Float32Array, o: Conv2DNativeOptions): void;
  conv2dBackwardFilterReference(x: Float32Array, dy: Float32Array, dw: Float32Array, db: Float32Array | null, o: Conv2DNativeOptions): void;
}
const addon = loadAddon<ConvAddon>();
type TapTest = Test;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(20261123);
const randomArray = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);

interface Case {
  name: string;
  batch: number;
  in: [number, number, number];
  outC: number;
  kernel: [number, number];
  stride?: [number, number];
  pad?: [number, number, number, number];
  dilation?: [number, number];
}

function options(c: Case): Conv2DNativeOptions {
  const [padTop, padBottom, padLeft, padRight] = c.pad ?? [0, 0, 0, 0];
  return {
    batch: c.batch, inH: c.in[0], inW: c.in[1], inC: c.in[2], outC: c.outC,
    kernelH: c.kernel[0], kernelW: c.kernel[1],
    strideH: c.stride?.[0] ?? 1, strideW: c.stride?.[1] ?? 1,
    padTop, padBottom, padLeft, padRight,
    dilationH: c.dilation?.[0] ?? 1, dilationW: c.dilation?.[1] ?? 1,
  };
}

const outSize = (o: Conv2DNativeOptions) => [
  Math.floor((o.inH + o.padTop + o.padBottom - o.dilationH * (o.kernelH - 1) - 1) / o.strideH) + 1,
  Math.floor((o.inW + o.padLeft + o.padRight - o.dilationW * (o.kernelW - 1) - 1) / o.strideW) + 1,
];

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

// Largest |actual - expected| relative to the largest |expected|: fp32
// summation over up to a few thousand terms stays far below 1e-4 of it.
function relativeError(actual: Float32Array, expected: Float32Array): number {
  const scale = Math.max(maxAbs(expected), 1e-6);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst / scale;
}

const ALGORITHMS = [
  { id: 0, label: 'auto' },
  { id: 1, label: 'gemm' },
  { id: 2, label: 'direct' },
];
const TOLERANCE = 1e-4;

function checkCase(t: TapTest, c: Case): void {
  const o = options(c);
  const [outH, outW] = outSize(o);
  const inputCount = o.batch * o.inH * o.inW * o.inC;
  const outputCount = o.batch * outH * outW * o.outC;
  const filterCount = o.kernelH * o.kernelW * o.inC * o.outC;
  const x = randomArray(inputCount);
  const w = randomArray(filterCount);
  const b = randomArray(o.outC);
  const dy = randomArray(outputCount);

  const relu = c.batch % 2 === 1;
  const yRef = new Float32Array(outputCount);
  addon.conv2dForwardReference(x, w, b, yRef, { ...o, relu });
  const yRefNoBias = new Float32Array(outputCount);
  addon.conv2dForwardReference(x, w, null, yRefNoBias, o);
  const dxRef = new Float32Array(inputCount);
  addon.conv2dBackwardDataReference(dy, w, dxRef, o);
  const dwRef = new Float32Array(filterCount);
  const dbRef = new Float32Array(o.outC);
  addon.conv2dBackwardFilterReference(x, dy, dwRef, dbRef, o);

  for (const algorithm of ALGORITHMS) {
    const label = `${c.name} [${algorithm.label}]`;
    const y = new Float32Array(outputCount).fill(NaN);
    addon.conv2dForward(x, w, b, y, { ...o, relu, algorithm: algorithm.id });
    t.ok(relativeError(y, yRef) < TOLERANCE, `forward ${label}`, { error: relativeError(y, yRef) });
    const yNoBias = new Float32Array(outputCount).fill(NaN);
    addon.conv2dForward(x, w, null, yNoBias, { ...o, algorithm: algorithm.id });
    t.ok(relativeError(yNoBias, yRefNoBias) < TOLERANCE, `forward without bias ${label}`, { error: relativeError(yNoBias, yRefNoBias) });

    // Outputs start as NaN garbage: backward kernels must overwrite, not accumulate.
    const dx = new Float32Array(inputCount).fill(NaN);
    addon.conv2dBackwardData(dy, w, dx, { ...o, algorithm: algorithm.id });
    t.ok(relativeError(dx, dxRef) < TOLERANCE, `backwardData ${label}`, { error: relativeError(dx, dxRef) });

    // accumulate: gradInput += the result (the plan's path for a tensor read
    // by several ops, in the kernel's own pass where the ISA's kernels can).
    if (algorithm.id === 0) {
      const start = randomArray(inputCount);
      const sum = start.slice();
      addon.conv2dBackwardData(dy, w, sum, { ...o, accumulate: true });
      const expected = start.map((v, i) => v + dxRef[i]);
      t.ok(relativeError(sum, expected) < TOLERANCE, `backwardData accumulate ${label}`, { error: relativeError(sum, expected) });
    }

    const dw = new Float32Array(filterCount).fill(NaN);
    const db = new Float32Array(o.outC).fill(NaN);
    addon.conv2dBackwardFilter(x, dy, dw, db, { ...o, algorithm: algorithm.id });
    t.ok(relativeError(dw, dwRef) < TOLERANCE, `backwardFilter ${label}`, { error: relativeError(dw, dwRef) });
    t.ok(relativeError(db, dbRef) < TOLERANCE, `backwardFilter bias ${label}`, { error: relativeError(db, dbRef) });
  }
}

const awkward: Case[] = [
  { name: '7x9x3->5 k3 pad1', batch: 1, in: [7, 9, 3], outC: 5, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: '7x9x7->17 k5 s2 asymmetric pad', batch: 3, in: [7, 9, 7], outC: 17, kernel: [5, 5], stride: [2, 2], pad: [2, 1, 0, 3] },
  { name: '11x13x1->6 k5 pad2', batch: 1, in: [11, 13, 1], outC: 6, kernel: [5, 5], pad: [2, 2, 2, 2] },
  { name: '9x7x17->65 1x1', batch: 3, in: [9, 7, 17], outC: 65, kernel: [1, 1] },
  { name: '9x9x65->17 1x1 s2', batch: 1, in: [9, 9, 65], outC: 17, kernel: [1, 1], stride: [2, 2] },
  { name: '5x6x3->7 1x1 pad1', batch: 1, in: [5, 6, 3], outC: 7, kernel: [1, 1], pad: [1, 0, 0, 1] },
  { name: '13x12x3->7 k11 s3 pad3', batch: 1, in: [13, 12, 3], outC: 7, kernel: [11, 11], stride: [3, 3], pad: [3, 3, 3, 3] },
  { name: '12x11x1->16 k11 s1 pad0', batch: 3, in: [12, 11, 1], outC: 16, kernel: [11, 11] },
  { name: '10x9x7->17 k3 dilation2 pad2', batch: 3, in: [10, 9, 7], outC: 17, kernel: [3, 3], dilation: [2, 2], pad: [2, 2, 2, 2] },
  { name: '9x8x3->5 k3 dilation [2,1] stride [1,2]', batch: 1, in: [9, 8, 3], outC: 5, kernel: [3, 3], dilation: [2, 1], stride: [1, 2], pad: [0, 3, 1, 0] },
  { name: '6x6x65->17 k3 valid', batch: 1, in: [6, 6, 65], outC: 17, kernel: [3, 3] },
  { name: '8x7x17->3 k3 s3 pad [0,2,1,1]', batch: 3, in: [8, 7, 17], outC: 3, kernel: [3, 3], stride: [3, 3], pad: [0, 2, 1, 1] },
  { name: 'kernel equals padded input', batch: 3, in: [3, 4, 7], outC: 17, kernel: [5, 5], pad: [1, 1, 0, 1] },
  { name: '1x1 image 1x1 kernel', batch: 1, in: [1, 1, 1], outC: 1, kernel: [1, 1] },
  { name: '7x5x32->32 k3 pad3 (more pad than kernel half)', batch: 1, in: [7, 5, 32], outC: 32, kernel: [3, 3], pad: [3, 3, 3, 3] },
  { name: '9x9x16->48 k2 s2 rectangular kernel', batch: 1, in: [9, 9, 16], outC: 48, kernel: [2, 3], stride: [2, 1], pad: [0, 1, 1, 1] },
  // Two-row tiles for narrow outputs, with a one-block tail group and an odd row count.
  { name: '7x7x40->70 k3 pad1 (two-row tiles)', batch: 1, in: [7, 7, 40], outC: 70, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: '5x3x33->33 k3 pad1 (two-row tiles, odd rows)', batch: 3, in: [5, 3, 33], outC: 33, kernel: [3, 3], pad: [1, 1, 1, 1] },
  // Channel-planar kernels: several column groups with a one-vector tail, dilation, row stride.
  { name: '3x40x2->7 k3 dilation [1,2] (planar, 3 column vectors)', batch: 1, in: [3, 40, 2], outC: 7, kernel: [3, 3], dilation: [1, 2], pad: [1, 1, 2, 2] },
  { name: '9x20x1->5 k3 stride [2,1] (planar, row stride)', batch: 3, in: [9, 20, 1], outC: 5, kernel: [3, 3], stride: [2, 1], pad: [1, 1, 1, 1] },
  { name: '6x17x8->8 k2 (planar, 8 channels)', batch: 1, in: [6, 17, 8], outC: 8, kernel: [2, 2] },
  { name: '100x100x1->8 k5 pad2 (planar, several image chunks)', batch: 3, in: [100, 100, 1], outC: 8, kernel: [5, 5], pad: [2, 2, 2, 2] },
  // One image per chunk and too big for a slot per thread (2+ threads): the
  // planar paths transpose a chunk up front instead of an image per thread.
  { name: '400x400x1->1 k3 pad1 (planar, no per-thread slots)', batch: 2, in: [400, 400, 1], outC: 1, kernel: [3, 3], pad: [1, 1, 1, 1] },
  // AVX2 planar tiles: 7-8 channels one 8-column half at a time, a lone
  // live half past an odd width, 1-4 channels with several rows per tile
  // (both operand orders), the per-image filter gradient (batch > threads),
  // a negative column offset in the backward-data copy, partial channel
  // blocks in the transposition.
  { name: '7x19x8->8 k3 pad1 (planar AVX2: 8 channels, odd width)', batch: 3, in: [7, 19, 8], outC: 8, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: '9x23x2->7 k3 dilation 2 pad2 (planar AVX2: 7 channels)', batch: 2, in: [9, 23, 2], outC: 7, kernel: [3, 3], dilation: [2, 2], pad: [2, 2, 2, 2] },
  { name: '11x37x3->1 k3 stride [2,1] pad1 (planar AVX2: 1 channel, 10-tap tiles)', batch: 3, in: [11, 37, 3], outC: 1, kernel: [3, 3], stride: [2, 1], pad: [1, 1, 1, 1] },
  { name: '10x40x2->2 k5 pad2 (planar AVX2: 2 channels, 3 column vectors)', batch: 4, in: [10, 40, 2], outC: 2, kernel: [5, 5], pad: [2, 2, 2, 2] },
  { name: '6x9x3->3 1x1 pad [1,0,2,1] (planar AVX2: 3 channels)', batch: 3, in: [6, 9, 3], outC: 3, kernel: [1, 1], pad: [1, 0, 2, 1] },
  { name: '8x12x5->4 k2 dilation [1,3] (planar AVX2: 4 and 5 channels)', batch: 3, in: [8, 12, 5], outC: 4, kernel: [2, 2], dilation: [1, 3] },
  { name: '9x1x2->3 1x1 (planar AVX2: one column)', batch: 2, in: [9, 1, 2], outC: 3, kernel: [1, 1] },
  { name: '8x13x3->20 k3 pad1 (planar AVX2: 20-channel gradient transposed)', batch: 2, in: [8, 13, 3], outC: 20, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: '7x11x2->5 k2 pad [0,1,2,0] (planar AVX2: negative column offset)', batch: 2, in: [7, 11, 2], outC: 5, kernel: [2, 2], pad: [0, 1, 2, 0] },
  // AVX2 channels-last tiles: three channel blocks, a merged tail tile.
  { name: '6x4x5->21 k3 pad1 (AVX2: one tile of three channel blocks, the last partial)', batch: 2, in: [6, 4, 5], outC: 21, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: '3x26x5->16 k3 pad1 (AVX2: a 2-pixel tail tile merged into 4 + 4)', batch: 2, in: [3, 26, 5], outC: 16, kernel: [3, 3], pad: [1, 1, 1, 1] },
  // Enough images for the per-image paths to deal out whole images (at
  // least twice the thread count, up to 4 threads).
  { name: '9 images 7x9x17->24 k3 pad1 (images taken one at a time)', batch: 9, in: [7, 9, 17], outC: 24, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: '9 images 8x7x5->3 k3 stride 2 pad [1,0,1,0] (planar and compact, one at a time)', batch: 9, in: [8, 7, 5], outC: 3, kernel: [3, 3], stride: [2, 2], pad: [1, 0, 1, 0] },
  // The AVX2 filter gradient reads padded inputs unpadded (16+ columns out):
  // tiles across two filter columns, uneven padding, stride 2.
  { name: '5x21x7->20 k3 pad [2,0,1,2] (unpadded filter gradient, tiles across columns)', batch: 2, in: [5, 21, 7], outC: 20, kernel: [3, 3], pad: [2, 0, 1, 2] },
  { name: '4x40x9->16 k3 stride 2 pad [1,1,1,0] (unpadded filter gradient, stride 2)', batch: 3, in: [4, 40, 9], outC: 16, kernel: [3, 3], stride: [2, 2], pad: [1, 1, 1, 0] },
  // Strided backward data reads the gradient compact, not spread: filter
  // columns past the 64th are tested for data one by one.
  { name: '3x70x9->10 k[1,66] stride [1,2] (compact gradient, 66 filter columns)', batch: 2, in: [3, 70, 9], outC: 10, kernel: [1, 66], stride: [1, 2], pad: [0, 0, 1, 2] },
  // Strided 1x1 backward data written in place.
  { name: '10x7x20->40 1x1 stride [2,3]', batch: 3, in: [10, 7, 20], outC: 40, kernel: [1, 1], stride: [2, 3] },
  // With at least two images a thread, each image is zeroed just before its
  // reached pixels are written (the unreached ones must not stay NaN).
  { name: '9x8x16->32 1x1 stride 2 batch 6 (per-image zeroing)', batch: 6, in: [9, 8, 16], outC: 32, kernel: [1, 1], stride: [2, 2] },
  { name: '7x10x24->8 1x1 stride [3,2] batch 5 (per-image zeroing)', batch: 5, in: [7, 10, 24], outC: 8, kernel: [1, 1], stride: [3, 2] },
  // A filter too big for the per-image split and images big enough that the
  // filter gradient walks its tiles over one image per pass (three passes).
  { name: '16x16x96->96 k3 pad1 (filter gradient in passes of one image)', batch: 3, in: [16, 16, 96], outC: 96, kernel: [3, 3], pad: [1, 1, 1, 1] },
  // The same on narrow images with 32k channels: the padded copy spaces its
  // pixels one line further apart (AVX2), the tiles one filter column each.
  { name: '7x6x128->40 k3 pad [1,2,1,0] (filter gradient from a spaced copy)', batch: 3, in: [7, 6, 128], outC: 40, kernel: [3, 3], pad: [1, 2, 1, 0] },
  { name: '5x5x64->130 k3 stride 2 pad1 (spaced copy, stride 2)', batch: 2, in: [5, 5, 64], outC: 130, kernel: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] },
  // The image-split filter gradient sums bands of rows: of about 128 pixels
  // where the output channels make several groups, else for images whose
  // gradient and source exceed 128 KiB.
  { name: '20x16x16->32 k3 pad1 (bands of 7, 7 and 6 rows: two channel groups)', batch: 4, in: [20, 16, 16], outC: 32, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: '32x32x3->64 k5 pad2 (filter gradient in bands, alexnet-s conv1)', batch: 2, in: [32, 32, 3], outC: 64, kernel: [5, 5], pad: [2, 2, 2, 2] },
  { name: '40x36x5->128 k3 stride 2 pad1 (bands of 7, 7 and 6 rows)', batch: 2, in: [40, 36, 5], outC: 128, kernel: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] },
  // Filters over 64K floats take the pass path: spaced source and gradient copies (outC a multiple of 64).
  { name: '6x5x64->128 k3 pad1 (spaced source and gradient copies)', batch: 3, in: [6, 5, 64], outC: 128, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: '5x7x96->192 k3 stride 2 pad [1,0,2,1] (spaced copies, stride 2)', batch: 3, in: [5, 7, 96], outC: 192, kernel: [3, 3], stride: [2, 2], pad: [1, 0, 2, 1] },
  // Strided 3x3 backward data with one block of gradInput channels (the
  // compact gradient, its phases' rows batched per kernel call).
  { name: '11x9x7->32 k3 stride 2 pad1 (compact, partial block)', batch: 3, in: [11, 9, 7], outC: 32, kernel: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] },
  { name: '32x32x16->32 k3 stride 2 pad1 (compact)', batch: 2, in: [32, 32, 16], outC: 32, kernel: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] },
  { name: '10x13x5->16 k3 stride 2 pad [1,0,2,1] (compact, 16 channels)', batch: 2, in: [10, 13, 5], outC: 16, kernel: [3, 3], stride: [2, 2], pad: [1, 0, 2, 1] },
  { name: '9x12x3->32 k3 stride [1,2] pad1 (compact columns only)', batch: 1, in: [9, 12, 3], outC: 32, kernel: [3, 3], stride: [1, 2], pad: [1, 1, 1, 1] },
  // AVX-512 backward data by column pairs (3-wide filters, column stride 2):
  // odd widths (a last pair of one column), channels past a 16-channel
  // block, each left padding 0-2, row strides 1-3, one and five filter rows.
  { name: '9x11x17->20 k3 stride 2 pad [1,1,0,2] (column pairs, odd width)', batch: 2, in: [9, 11, 17], outC: 20, kernel: [3, 3], stride: [2, 2], pad: [1, 1, 0, 2] },
  { name: '7x13x33->8 k[5,3] stride [3,2] pad [2,0,2,0] (column pairs, left pad 2)', batch: 1, in: [7, 13, 33], outC: 8, kernel: [5, 3], stride: [3, 2], pad: [2, 0, 2, 0] },
  { name: '6x10x5->40 k[1,3] stride [1,2] pad [0,0,1,1] (column pairs, one filter row)', batch: 3, in: [6, 10, 5], outC: 40, kernel: [1, 3], stride: [1, 2], pad: [0, 0, 1, 1] },
  { name: '5x1x4->16 k3 stride 2 pad1 (column pairs, one column)', batch: 2, in: [5, 1, 4], outC: 16, kernel: [3, 3], stride: [2, 2], pad: [1, 1, 1, 1] },
  { name: '4x70x16->3 k3 stride 2 pad [0,1,1,0] (column pairs, three tiles a row)', batch: 1, in: [4, 70, 16], outC: 3, kernel: [3, 3], stride: [2, 2], pad: [0, 1, 1, 0] },
  // Whole-filter filter-gradient tiles (AVX-512): 3x3 over 3 channels and
  // 5x5 over 1, one block of output channels.
  { name: '9x11x3->7 k3 stride 2 pad [1,0,2,1] (whole-filter tiles, partial block)', batch: 3, in: [9, 11, 3], outC: 7, kernel: [3, 3], stride: [2, 2], pad: [1, 0, 2, 1] },
  { name: '12x10x3->16 k3 dilation [2,1] pad1 (whole-filter tiles, dilated rows)', batch: 2, in: [12, 10, 3], outC: 16, kernel: [3, 3], dilation: [2, 1], pad: [1, 1, 1, 1] },
  { name: '9x7x1->16 k5 unpadded (whole-filter tiles)', batch: 4, in: [9, 7, 1], outC: 16, kernel: [5, 5] },
  // Whole-filter tiles along the filter entries (AVX-512, at most 12
  // channels): 5x5 and 3x3 over one channel, and 5x1 over five channels
  // (the same 5 x 5 entries), the bias gradient summed in a spare lane.
  { name: '10x9x1->12 k5 stride 2 pad [2,1,0,2] (whole-filter entry tiles)', batch: 3, in: [10, 9, 1], outC: 12, kernel: [5, 5], stride: [2, 2], pad: [2, 1, 0, 2] },
  { name: '8x11x1->1 k3 dilation [2,1] pad1 (whole-filter entry tiles, one channel)', batch: 2, in: [8, 11, 1], outC: 1, kernel: [3, 3], dilation: [2, 1], pad: [1, 1, 1, 1] },
  { name: '9x6x5->9 k[5,1] pad [2,2,0,0] (whole-filter entry tiles, five channels)', batch: 3, in: [9, 6, 5], outC: 9, kernel: [5, 1], pad: [2, 2, 0, 0] },
  { name: '13x8x4->8 k3 stride [3,2] pad [2,1,1,0] (compact, three row phases)', batch: 2, in: [13, 8, 4], outC: 8, kernel: [3, 3], stride: [3, 2], pad: [2, 1, 1, 0] },
  // Filter-gradient tiles along the filter entries (AVX-512, 8 or 16
  // channels): rows of 80 entries in two tiles of 40 read unpadded, a
  // stride-2 unpadded source, a partial last vector with dilated columns
  // (a segment per filter column), and a spaced copy's 512-entry segments.
  { name: '20x18x16->16 k5 pad2 (entry tiles, 80-entry rows, unpadded)', batch: 3, in: [20, 18, 16], outC: 16, kernel: [5, 5], pad: [2, 2, 2, 2] },
  { name: '17x33x16->8 k3 stride 2 pad [1,0,1,1] (entry tiles, stride 2, unpadded)', batch: 2, in: [17, 33, 16], outC: 8, kernel: [3, 3], stride: [2, 2], pad: [1, 0, 1, 1] },
  { name: '9x11x20->16 k3 dilation [1,2] pad [1,1,2,2] (entry tiles, a partial vector per column)', batch: 1, in: [9, 11, 20], outC: 16, kernel: [3, 3], dilation: [1, 2], pad: [1, 1, 2, 2] },
  { name: '5x5x512->16 k3 pad1 (entry tiles from a spaced copy)', batch: 2, in: [5, 5, 512], outC: 16, kernel: [3, 3], pad: [1, 1, 1, 1] },
];

const realLayers: Case[] = [
  { name: 'resnet20 stem', batch: 2, in: [32, 32, 3], outC: 16, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: 'resnet20 stage1 conv3x3', batch: 2, in: [32, 32, 16], outC: 16, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: 'resnet20 stage2 conv3x3 stride2', batch: 2, in: [32, 32, 16], outC: 32, kernel: [3, 3], stride: [2, 2], pad: [0, 1, 0, 1] },
  { name: 'resnet20 stage2 conv3x3', batch: 2, in: [16, 16, 32], outC: 32, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: 'resnet20 stage2 projection 1x1 stride2', batch: 2, in: [32, 32, 16], outC: 32, kernel: [1, 1], stride: [2, 2] },
  { name: 'resnet20 stage3 conv3x3 stride2', batch: 2, in: [16, 16, 32], outC: 64, kernel: [3, 3], stride: [2, 2], pad: [0, 1, 0, 1] },
  { name: 'resnet20 stage3 conv3x3', batch: 2, in: [8, 8, 64], outC: 64, kernel: [3, 3], pad: [1, 1, 1, 1] },
  { name: 'resnet20 stage3 projection 1x1 stride2', batch: 2, in: [16, 16, 32], outC: 64, kernel: [1, 1], stride: [2, 2] },
  { name: 'lenet5 conv1', batch: 2, in: [28, 28, 1], outC: 6, kernel: [5, 5], pad: [2, 2, 2, 2] },
  { name: 'lenet5 conv2', batch: 2, in: [14, 14, 6], outC: 16, kernel: [5, 5] },
];

function randomCases(count: number): Case[] {
  const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)];
  const cases: Case[] = [];
  while (cases.length < count) {
    const kernel: [number, number] = [pick([1, 2, 3, 5]), pick([1, 3, 5])];
    const dilation: [number, number] = [pick([1, 1, 2]), pick([1, 1, 2])];
    const stride: [number, number] = [pick([1, 2, 3]), pick([1, 2, 3])];
    const pad: [number, number, number, number] = [pick([0, 1, 2, 3]), pick([0, 1, 2, 3]), pick([0, 1, 2, 3]), pick([0, 1, 2, 3])];
    const inH = 3 + Math.floor(random() * 10);
    const inW = 3 + Math.floor(random() * 10);
    const inC = pick([1, 3, 7, 17, 65]);
    const outC = pick([1, 3, 7, 17, 65]);
    const batch = pick([1, 3]);
    if ((kernel[0] - 1) * dilation[0] + 1 > inH + pad[0] + pad[1]) continue;
    if ((kernel[1] - 1) * dilation[1] + 1 > inW + pad[2] + pad[3]) continue;
    const name = `random ${batch}x${inH}x${inW}x${inC}->${outC} k${kernel} s${stride} p${pad} d${dilation}`;
    cases.push({ name, batch, in: [inH, inW, inC], outC, kernel, stride, pad, dilation });
  }
  return cases;
}

t.test('awkward shapes match the reference', async (t) => {
  for (const c of awkward) checkCase(t, c);
});

t.test('resnet20 and lenet5 layers (batch 2) match the reference', async (t) => {
  for (const c of realLayers) checkCase(t, c);
});

t.test('random shapes match the reference', async (t) => {
  for (const c of randomCases(24)) checkCase(t, c);
});

t.test('the result does not depend on the thread count', async (t) => {
  const { setNumThreads, backend } = await import('../../lib/backend');
  const before = backend().threads;
  // The second and third shapes take the AVX-512 filter-gradient tiles
  // along the filter entries (16 channels, read unpadded; the whole 3x3
  // filter of one input channel, with the bias gradient in a spare lane).
  for (const shape of [
    { name: '', batch: 11, in: [9, 10, 17] as [number, number, number], outC: 33, kernel: [3, 3] as [number, number] },
    { name: '', batch: 11, in: [9, 18, 16] as [number, number, number], outC: 16, kernel: [3, 3] as [number, number] },
    { name: '', batch: 11, in: [12, 13, 1] as [number, number, number], outC: 6, kernel: [3, 3] as [number, number] },
  ]) {
    const o = options({ ...shape, pad: [1, 1, 1, 1] });
    const [outH, outW] = outSize(o);
    const x = randomArray(o.batch * o.inH * o.inW * o.inC);
    const w = randomArray(9 * o.inC * o.outC);
    const dy = randomArray(o.batch * outH * outW * o.outC);
    const run = () => {
      const y = new Float32Array(dy.length);
      addon.conv2dForward(x, w, null, y, o);
      const dx = new Float32Array(x.length);
      addon.conv2dBackwardData(dy, w, dx, o);
      const dw = new Float32Array(w.length);
      const db = new Float32Array(o.outC);
      addon.conv2dBackwardFilter(x, dy, dw, db, o);
      return [y, dx, dw, db];
    };
    setNumThreads(1);
    const one = run();
    // 3 and 4 threads on this 2-core machine: each thread's share of the
    // images (WorkDealer) is uneven (11 images) and the threads that get to
    // run first take over the others' shares.
    for (const threads of [2, 3, 4]) {
      setNumThreads(threads);
      const many = run();
      const manyAgain = run();
      for (let i = 0; i < one.length; i++) {
        t.ok(relativeError(many[i], one[i]) < TOLERANCE, `output ${i} with 1 and ${threads} threads`);
      }
      // Which thread computes which images varies from run to run (a thread
      // that falls behind has its share taken over); the sums must not.
      for (let i = 0; i < many.length; i++) {
        t.same(manyAgain[i], many[i], `output ${i} bit for bit in a second ${threads}-thread run`);
      }
    }
  }
  setNumThreads(before);
});

t.test('with 2 threads each run of images keeps its own partial filter gradient, with a bias gradient or none', async (t) => {
  // The image-split filter gradient sums runs of images into partials side
  // by side in the workspace (each with its bias gradient when there is
  // one); a run writing past its own partial corrupts the next run's sums
  // only when that run has already started, so the check is repeated.
  const { setNumThreads, backend } = await import('../../lib/backend');
  const before = backend().threads;
  const o = options({ name: '', batch: 16, in: [12, 12, 17], outC: 33, kernel: [3, 3], pad: [1, 1, 1, 1] });
  const [outH, outW] = outSize(o);
  const x = randomArray(o.batch * o.inH * o.inW * o.inC);
  const dy = randomArray(o.batch * outH * outW * o.outC);
  const expected = new Float32Array(9 * o.inC * o.outC);
  const expectedBias = new Float32Array(o.outC);
  addon.conv2dBackwardFilterReference(x, dy, expected, expectedBias, o);
  setNumThreads(2);
  let worst = 0;
  let worstBias = 0;
  for (let repeat = 0; repeat < 24; repeat++) {
    const withBias = repeat % 2 === 0;
    const dw = new Float32Array(expected.length);
    const db = new Float32Array(o.outC);
    addon.conv2dBackwardFilter(x, dy, dw, withBias ? db : null, o);
    worst = Math.max(worst, relativeError(dw, expected));
    if (withBias) worstBias = Math.max(worstBias, relativeError(db, expectedBias));
  }
  setNumThreads(before);
  t.ok(worst < TOLERANCE, `filter gradient within tolerance in every repeat (worst ${worst})`);
  t.ok(worstBias < TOLERANCE, `bias gradient within tolerance in every repeat (worst ${worstBias})`);
});

t.test('the binding rejects bad arguments', async (t) => {
  const o = options({ name: '', batch: 1, in: [4, 4, 2], outC: 3, kernel: [3, 3] });
  const x = new Float32Array(32);
  const w = new Float32Array(54);
  const y = new Float32Array(12);
  t.throws(() => addon.conv2dForward(x, w, null, new Float32Array(11), o), /kiln.conv2dForward: expected a Float32Array of length 12 for 'output' but received length 11/);
  t.throws(() => addon.conv2dForward(new Float64Array(32) as never, w, null, y, o), /expected a Float32Array for 'input' but received a Float64Array/);
  t.throws(() => addon.conv2dForward(x, w, new Float32Array(2), y, o), /for 'bias'/);
  t.throws(() => addon.conv2dForward(x, w, null, y, { ...o, strideH: 0 }), /kiln.conv2dForward: expected an integer in \[1, \d+\] for 'strideH' but received 0/);
  t.throws(() => addon.conv2dForward(x, w, null, y, { ...o, kernelH: 5, kernelW: 5 } as never), /expected a kernel no larger than the padded input \(inH 4 \+ padTop 0 \+ padBottom 0 = 4\) for 'kernelH' but received kernelH 5/);
  t.throws(() => addon.conv2dBackwardData(y, w, new Float32Array(5), o), /conv2dBackwardData: expected a Float32Array of length 32 for 'gradInput'/);
  t.throws(() => addon.conv2dBackwardFilter(x, y, w, new Float32Array(4), o), /conv2dBackwardFilter: expected a Float32Array of length 3 for 'gradBias'/);
  t.throws(() => addon.conv2dForward(x, w, null, y, { ...o, batch: 2 ** 30, inH: 2 ** 30 }), /overflows|length/);
  t.throws(() => addon.conv2dForward(x, w, null, y, { ...o, relu: 1 } as never), /for 'relu'/);
  t.throws(() => addon.conv2dForward(x, w, null, y, undefined as never), /for 'options'/);
});
