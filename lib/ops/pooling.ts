// Max, average and global average pooling over NHWC tensors [batch, H, W, C].
// Window geometry (pool size, strides, padding) resolves in pure functions
// (resolvePool2d, pool2dOutputShape) that the layer API shares for its shape
// inference; the ops then call the native kernels.
import { samePads } from './padding';
import { loadAddon } from '../native';
import { Tensor, expectTensor } from '../tensor';
import { argumentError, expectInteger, formatShape, rangeError } from '../validate';

/** Native shape object of the pooling kernels. */
export interface Pool2dGeometry {
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

export const PACKED_POOL2D_FIELDS = 12;

/**
 * The geometry packed into an Int32Array, in the order the bindings read it
 * (native/addon/pooling_binding.cpp, ShapeField). The bindings take either
 * form with the same checks; the packed one is read in one N-API call
 * instead of 12 property lookups, which is why the eager ops here pass it.
 */
export function packPool2DShape(g: Pool2dGeometry, into: Int32Array = new Int32Array(PACKED_POOL2D_FIELDS)): Int32Array {
  into[0] = g.batch;
  into[1] = g.inH;
  into[2] = g.inW;
  into[3] = g.channels;
  into[4] = g.windowH;
  into[5] = g.windowW;
  into[6] = g.strideH;
  into[7] = g.strideW;
  into[8] = g.padTop;
  into[9] = g.padBottom;
  into[10] = g.padLeft;
  into[11] = g.padRight;
  return into;
}

// The eager ops' packed geometry: the bindings are synchronous and read it
// before they return, so one array serves every call.
const scratchShape = new Int32Array(PACKED_POOL2D_FIELDS);

/** Either form of the geometry a pooling binding takes. */
export type Pool2dBindingShape = Pool2dGeometry | Int32Array;

interface PoolingAddon {
  maxPool2dForward(input: Float32Array, output: Float32Array, shape: Pool2dBindingShape): void;
  maxPool2dBackward(input: Float32Array, gradOutput: Float32Array, gradInput: Float32Array, shape: Pool2dBindingShape): void;
  avgPool2dForward(input: Float32Array, output: Float32Array, shape: Pool2dBindingShape): void;
  avgPool2dBackward(gradOutput: Float32Array, gradInput: Float32Array, shape: Pool2dBindingShape): void;
  globalAvgPoolForward(input: Float32Array, output: Float32Array, batch: number, spatial: number, channels: number): void;
  globalAvgPoolBackward(gradOutput: Float32Array, gradInput: Float32Array, batch: number, spatial: number, channels: number): void;
}

const addon = () => loadAddon<PoolingAddon>();

/**
 * 'valid': no padding; 'same': TensorFlow's rule, output = ceil(input / stride)
 * with the extra padding at the bottom / right; a number pads every side;
 * [top, bottom, left, right] pads each side.
 */
export type Pool2dPadding = 'valid' | 'same' | number | readonly [number, number, number, number];

export interface Pool2dOptions {
  /** Window size: one number for a square window, or [height, width]. */
  poolSize: number | readonly [number, number];
  /** Defaults to poolSize (non-overlapping windows), as in Keras. */
  strides?: number | readonly [number, number];
  /** Defaults to 'valid'. */
  padding?: Pool2dPadding;
}

/** Window, strides, padding and output size for one input height and width. */
export interface ResolvedPool2d {
  windowH: number;
  windowW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  outH: number;
  outW: number;
}

function pair(fn: string, argument: string, value: unknown): [number, number] {
  if (typeof value === 'number') {
    const n = expectInteger(fn, argument, value, 1);
    return [n, n];
  }
  if (Array.isArray(value) && value.length === 2) {
    return [expectInteger(fn, argument, value[0], 1), expectInteger(fn, argument, value[1], 1)];
  }
  throw argumentError(fn, argument, 'a positive integer or [height, width]', value);
}

const samePadding = (size: number, window: number, stride: number) => samePads(size, window, stride, 1);

/** Resolves pool options for an input of height inH and width inW; throws if the window does not fit. */
export function resolvePool2d(inH: number, inW: number, options: Pool2dOptions, fn = 'pool2d'): ResolvedPool2d {
  if (typeof options !== 'object' || options === null) throw argumentError(fn, 'options', 'an options object', options);
  expectInteger(fn, 'inH', inH, 1);
  expectInteger(fn, 'inW', inW, 1);
  const [windowH, windowW] = pair(fn, 'poolSize', options.poolSize);
  const [strideH, strideW] = options.strides === undefined ? [windowH, windowW] : pair(fn, 'strides', options.strides);
  const padding = options.padding ?? 'valid';
  let pads: [number, number, number, number];
  if (padding === 'valid') pads = [0, 0, 0, 0];
  else if (padding === 'same') pads = [...samePadding(inH, windowH, strideH), ...samePadding(inW, windowW, strideW)];
  else if (typeof padding === 'number') {
    const p = expectInteger(fn, 'padding', padding, 0);
    pads = [p, p, p, p];
  } else if (Array.isArray(padding) && padding.length === 4) {
    pads = padding.map((p) => expectInteger(fn, 'padding', p, 0)) as [number, number, number, number];
  } else {
    throw argumentError(fn, 'padding', "'valid', 'same', a non-negative integer or [top, bottom, left, right]", padding);
  }
  const [padTop, padBottom, padLeft, padRight] = pads;
  const paddedH = inH + padTop + padBottom;
  const paddedW = inW + padLeft + padRight;
  if (windowH > paddedH || windowW > paddedW) {
    throw rangeError(
      fn,
      'poolSize',
      `a window no larger than the padded input ${formatShape([paddedH, paddedW])} (input ${formatShape([inH, inW])}, padding ${formatShape(pads)})`,
      formatShape([windowH, windowW]),
    );
  }
  return {
    windowH,
    windowW,
    strideH,
    strideW,
    padTop,
    padBottom,
    padLeft,
    padRight,
    outH: Math.floor((paddedH - windowH) / strideH) + 1,
    outW: Math.floor((paddedW - windowW) / strideW) + 1,
  };
}

/** Output shape of a 2-D pool: input [H, W, C] or [N, H, W, C] gives the same rank. */
export function pool2dOutputShape(inputShape: readonly number[], options: Pool2dOptions, fn = 'pool2dOutputShape'): number[] {
  if (!Array.isArray(inputShape) || (inputShape.length !== 3 && inputShape.length !== 4)) {
    throw argumentError(fn, 'inputShape', 'a shape [H, W, C] or [N, H, W, C]', inputShape);
  }
  inputShape.forEach((d) => expectInteger(fn, 'inputShape', d, 1));
  const offset = inputShape.length - 3;
  const resolved = resolvePool2d(inputShape[offset], inputShape[offset + 1], options, fn);
  const spatial = [resolved.outH, resolved.outW, inputShape[offset + 2]];
  return offset === 1 ? [inputShape[0], ...spatial] : spatial;
}

function geometry(inputShape: readonly number[], options: Pool2dOptions, fn: string): { shape: Pool2dGeometry; outputShape: number[] } {
  const [batch, inH, inW, channels] = inputShape;
  const r = resolvePool2d(inH, inW, options, fn);
  const shape: Pool2dGeometry = {
    batch,
    inH,
    inW,
    channels,
    windowH: r.windowH,
    windowW: r.windowW,
    strideH: r.strideH,
    strideW: r.strideW,
    padTop: r.padTop,
    padBottom: r.padBottom,
    padLeft: r.padLeft,
    padRight: r.padRight,
  };
  return { shape, outputShape: [batch, r.outH, r.outW, channels] };
}

function expectSameShape(fn: string, argument: string, tensor: Tensor, shape: readonly number[]): void {
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw rangeError(fn, argument, `a Tensor of shape ${formatShape(shape)}`, `shape ${formatShape(tensor.shape)}`);
  }
}

function expectInputShape(fn: string, inputShape: unknown): number[] {
  if (!Array.isArray(inputShape) || inputShape.length !== 4) throw argumentError(fn, 'inputShape', 'a shape [N, H, W, C]', inputShape);
  inputShape.forEach((d) => expectInteger(fn, 'inputShape', d, 1));
  return inputShape as number[];
}

/** Max pooling of x [N, H, W, C]; padding never wins. */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  expectTensor('maxPool2d', 'x', x, 4);
  const { shape, outputShape } = geometry(x.shape, options, 'maxPool2d');
  const output = Tensor.zeros(outputShape);
  addon().maxPool2dForward(x.data, output.data, packPool2DShape(shape, scratchShape));
  return output;
}

/** Gradient of maxPool2d with respect to x: each output gradient goes to the first maximum of its window. */
export function maxPool2dBackward(x: Tensor, gradOutput: Tensor, options: Pool2dOptions): Tensor {
  expectTensor('maxPool2dBackward', 'x', x, 4);
  expectTensor('maxPool2dBackward', 'gradOutput', gradOutput, 4);
  const { shape, outputShape } = geometry(x.shape, options, 'maxPool2dBackward');
  expectSameShape('maxPool2dBackward', 'gradOutput', gradOutput, outputShape);
  const gradInput = Tensor.zeros(x.shape);
  addon().maxPool2dBackward(x.data, gradOutput.data, gradInput.data, packPool2DShape(shape, scratchShape));
  return gradInput;
}

/** Average pooling of x [N, H, W, C]; padded positions are left out of each average's count. */
export function avgPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  expectTensor('avgPool2d', 'x', x, 4);
  const { shape, outputShape } = geometry(x.shape, options, 'avgPool2d');
  const output = Tensor.zeros(outputShape);
  addon().avgPool2dForward(x.data, output.data, packPool2DShape(shape, scratchShape));
  return output;
}

/** Gradient of avgPool2d with respect to its input, whose shape [N, H, W, C] is given. */
export function avgPool2dBackward(gradOutput: Tensor, inputShape: readonly number[], options: Pool2dOptions): Tensor {
  expectTensor('avgPool2dBackward', 'gradOutput', gradOutput, 4);
  const input = expectInputShape('avgPool2dBackward', inputShape);
  const { shape, outputShape } = geometry(input, options, 'avgPool2dBackward');
  expectSameShape('avgPool2dBackward', 'gradOutput', gradOutput, outputShape);
  const gradInput = Tensor.zeros(input);
  addon().avgPool2dBackward(gradOutput.data, gradInput.data, packPool2DShape(shape, scratchShape));
  return gradInput;
}

/** Mean over the spatial positions: [N, H, W, C] -> [N, C]. */
export function globalAvgPool2d(x: Tensor): Tensor {
  expectTensor('globalAvgPool2d', 'x', x, 4);
  const [batch, height, width, channels] = x.shape;
  const output = Tensor.zeros([batch, channels]);
  addon().globalAvgPoolForward(x.data, output.data, batch, height * width, channels);
  return output;
}

/** Gradient of globalAvgPool2d: gradOutput [N, C] spread evenly over inputShape [N, H, W, C]. */
export function globalAvgPool2dBackward(gradOutput: Tensor, inputShape: readonly number[]): Tensor {
  expectTensor('globalAvgPool2dBackward', 'gradOutput', gradOutput, 2);
  const [batch, height, width, channels] = expectInputShape('globalAvgPool2dBackward', inputShape);
  expectSameShape('globalAvgPool2dBackward', 'gradOutput', gradOutput, [batch, channels]);
  const gradInput = Tensor.zeros([batch, height, width, channels]);
  addon().globalAvgPoolBackward(gradOutput.data, gradInput.data, batch, height * width, channels);
  return gradInput;
}
