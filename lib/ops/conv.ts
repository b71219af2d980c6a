// conv2d and its two gradients over NHWC tensors with HWIO filters, plus the
// pure shape helpers (padding resolution, output shape) the layers reuse.
import { samePads } from './padding';
import { loadAddon } from '../native';
import { Tensor, expectTensor } from '../tensor';
import { argumentError, expectFloat32Array, expectShape, formatShape, rangeError } from '../validate';

/** The integer options every conv binding takes. */
export interface Conv2DNativeOptions {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outC: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  dilationH: number;
  dilationW: number;
  relu?: boolean;
  /** 0 auto, 1 im2col+GEMM, 2 direct SIMD kernels (tests force each path). */
  algorithm?: number;
  /** conv2dBackwardData only: add to gradInput instead of overwriting it. */
  accumulate?: boolean;
}

export const PACKED_CONV2D_FIELDS = 18;

/**
 * The options packed into an Int32Array, in the order the bindings read it
 * (native/addon/conv_binding.cpp, PackedField). The bindings take either
 * form with the same checks; the packed one is read in one N-API call
 * instead of 18 property lookups (~3 us a call), which is why the eager ops
 * here pass it.
 */
export function packConv2DOptions(o: Conv2DNativeOptions, into: Int32Array = new Int32Array(PACKED_CONV2D_FIELDS)): Int32Array {
  into[0] = o.batch;
  into[1] = o.inH;
  into[2] = o.inW;
  into[3] = o.inC;
  into[4] = o.outC;
  into[5] = o.kernelH;
  into[6] = o.kernelW;
  into[7] = o.strideH;
  into[8] = o.strideW;
  into[9] = o.padTop;
  into[10] = o.padBottom;
  into[11] = o.padLeft;
  into[12] = o.padRight;
  into[13] = o.dilationH;
  into[14] = o.dilationW;
  into[15] = o.relu ? 1 : 0;
  into[16] = o.algorithm ?? 0;
  into[17] = o.accumulate ? 1 : 0;
  return into;
}

// The eager ops' packed options: the bindings are synchronous and read it
// before they return, so one array serves every call (a new Int32Array a
// call cost ~1 us, a third of what packing saves).
const scratchOptions = new Int32Array(PACKED_CONV2D_FIELDS);

/** Either form of the options a conv binding takes. */
export type Conv2DBindingOptions = Conv2DNativeOptions | Int32Array;

interface ConvAddon {
  conv2dForward(input: Float32Array, filter: Float32Array, bias: Float32Array | null, output: Float32Array, options: Conv2DBindingOptions): void;
  conv2dBackwardData(gradOutput: Float32Array, filter: Float32Array, gradInput: Float32Array, options: Conv2DBindingOptions): void;
  conv2dBackwardFilter(input: Float32Array, gradOutput: Float32Array, gradFilter: Float32Array, gradBias: Float32Array | null, options: Conv2DBindingOptions): void;
}

const addon = () => loadAddon<ConvAddon>();

export type Conv2DPadding = 'same' | 'valid' | number | readonly [number, number, number, number];

export interface Conv2DGeometry {
  /** One stride for both axes, or [strideH, strideW]. Default 1. */
  strides?: number | readonly [number, number];
  /** 'valid' (default), 'same' (TensorFlow's rule), one pad for all sides, or [top, bottom, left, right]. */
  padding?: Conv2DPadding;
  /** One dilation for both axes, or [dilationH, dilationW]. Default 1. */
  dilation?: number | readonly [number, number];
}

export interface Conv2DOptions extends Conv2DGeometry {
  bias?: Tensor;
  relu?: boolean;
}

const MAX_INT = 2 ** 31 - 1;

function pair(fn: string, argument: string, value: unknown, fallback: number): [number, number] {
  if (value === undefined) return [fallback, fallback];
  const valid = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= MAX_INT;
  if (valid(value)) return [value as number, value as number];
  if (Array.isArray(value) && value.length === 2 && value.every(valid)) return [value[0], value[1]];
  throw argumentError(fn, argument, 'a positive integer or a pair of positive integers', value);
}

/**
 * Explicit [top, bottom, left, right] padding. 'same' follows TensorFlow: the
 * total pad is max((ceil(in / stride) - 1) * stride + (k - 1) * dilation + 1 - in, 0)
 * with the odd pixel at the bottom / right.
 */
export function resolvePadding(
  padding: Conv2DPadding | undefined,
  inH: number,
  inW: number,
  kernelH: number,
  kernelW: number,
  strideH: number,
  strideW: number,
  dilationH: number,
  dilationW: number,
): [number, number, number, number] {
  if (padding === undefined || padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') return [...samePads(inH, kernelH, strideH, dilationH), ...samePads(inW, kernelW, strideW, dilationW)];
  const validPad = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_INT;
  if (validPad(padding)) {
    const p = padding as number;
    return [p, p, p, p];
  }
  if (Array.isArray(padding) && padding.length === 4 && padding.every(validPad)) {
    return [padding[0], padding[1], padding[2], padding[3]];
  }
  throw argumentError('conv2d', 'padding', "'same', 'valid', a non-negative integer or [top, bottom, left, right]", padding);
}

/** The full geometry of one convolution, as the native kernels take it. */
export function conv2dNativeOptions(
  fn: string,
  inputShape: readonly number[],
  filterShape: readonly number[],
  geometry: Conv2DGeometry = {},
): Conv2DNativeOptions {
  if (geometry === null || typeof geometry !== 'object') throw argumentError(fn, 'options', 'an options object', geometry);
  const [batch, inH, inW, inC] = inputShape;
  const [kernelH, kernelW, filterInC, outC] = filterShape;
  if (filterInC !== inC) {
    throw rangeError(
      fn,
      'filter',
      `filter inC ${filterInC} to equal input channels ${inC} (filter ${formatShape(filterShape)} is [kH, kW, inC, outC], input ${formatShape(inputShape)} is [N, H, W, C])`,
      `filter ${formatShape(filterShape)}`,
    );
  }
  const [strideH, strideW] = pair(fn, 'strides', geometry.strides, 1);
  const [dilationH, dilationW] = pair(fn, 'dilation', geometry.dilation, 1);
  let pads: [number, number, number, number];
  try {
    pads = resolvePadding(geometry.padding, inH, inW, kernelH, kernelW, strideH, strideW, dilationH, dilationW);
  } catch {
    throw argumentError(fn, 'padding', "'same', 'valid', a non-negative integer or [top, bottom, left, right]", geometry.padding);
  }
  const [padTop, padBottom, padLeft, padRight] = pads;
  const extentH = (kernelH - 1) * dilationH + 1;
  const extentW = (kernelW - 1) * dilationW + 1;
  if (extentH > inH + padTop + padBottom || extentW > inW + padLeft + padRight) {
    throw rangeError(
      fn,
      'filter',
      `a kernel no larger than the padded input (input ${formatShape(inputShape)} padded to ${inH + padTop + padBottom}x${inW + padLeft + padRight})`,
      `filter ${formatShape(filterShape)} with dilation [${dilationH}, ${dilationW}] (extent ${extentH}x${extentW})`,
    );
  }
  return { batch, inH, inW, inC, outC, kernelH, kernelW, strideH, strideW, padTop, padBottom, padLeft, padRight, dilationH, dilationW };
}

/** [N, outH, outW, outC] of conv2d(input of inputShape, filter of filterShape, geometry). */
export function conv2dOutputShape(
  inputShape: readonly number[],
  filterShape: readonly number[],
  geometry: Conv2DGeometry = {},
): [number, number, number, number] {
  const fn = 'conv2dOutputShape';
  expectShape(fn, 'inputShape', inputShape as number[], 4);
  expectShape(fn, 'filterShape', filterShape as number[], 4);
  const o = conv2dNativeOptions(fn, inputShape, filterShape, geometry);
  return [o.batch, ...outputSpatial(o), o.outC];
}

function outputSpatial(o: Conv2DNativeOptions): [number, number] {
  const outH = Math.floor((o.inH + o.padTop + o.padBottom - o.dilationH * (o.kernelH - 1) - 1) / o.strideH) + 1;
  const outW = Math.floor((o.inW + o.padLeft + o.padRight - o.dilationW * (o.kernelW - 1) - 1) / o.strideW) + 1;
  return [outH, outW];
}

function expectFloatTensor(fn: string, argument: string, value: unknown, rank: number): Tensor {
  const tensor = expectTensor(fn, argument, value, rank);
  expectFloat32Array(fn, argument, tensor.data);
  return tensor;
}

function expectShapeEquals(fn: string, argument: string, actual: readonly number[], expected: readonly number[], why: string): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw rangeError(fn, argument, `shape ${formatShape(expected)} (${why})`, `shape ${formatShape(actual)}`);
  }
}

/** NHWC convolution with an HWIO filter: [N, H, W, C] x [kH, kW, C, outC] -> [N, outH, outW, outC]. */
export function conv2d(input: Tensor, filter: Tensor, options: Conv2DOptions = {}): Tensor {
  const fn = 'conv2d';
  expectFloatTensor(fn, 'input', input, 4);
  expectFloatTensor(fn, 'filter', filter, 4);
  const native = conv2dNativeOptions(fn, input.shape, filter.shape, options);
  let bias: Float32Array | null = null;
  if (options.bias !== undefined) {
    const biasTensor = expectFloatTensor(fn, 'bias', options.bias, 1);
    if (biasTensor.shape[0] !== native.outC) {
      throw rangeError(fn, 'bias', `shape [${native.outC}] (one value per output channel of filter ${formatShape(filter.shape)})`, `shape ${formatShape(biasTensor.shape)}`);
    }
    bias = biasTensor.data;
  }
  if (options.relu !== undefined && typeof options.relu !== 'boolean') throw argumentError(fn, 'relu', 'a boolean', options.relu);
  native.relu = options.relu === true;
  const [outH, outW] = outputSpatial(native);
  const output = Tensor.zeros([native.batch, outH, outW, native.outC]);
  addon().conv2dForward(input.data, filter.data, bias, output.data, packConv2DOptions(native, scratchOptions));
  return output;
}

/** d(loss)/d(input) of conv2d, given d(loss)/d(output). */
export function conv2dBackwardInput(gradOutput: Tensor, filter: Tensor, inputShape: readonly number[], options: Conv2DGeometry = {}): Tensor {
  const fn = 'conv2dBackwardInput';
  expectFloatTensor(fn, 'gradOutput', gradOutput, 4);
  expectFloatTensor(fn, 'filter', filter, 4);
  expectShape(fn, 'inputShape', inputShape as number[], 4);
  const native = conv2dNativeOptions(fn, inputShape, filter.shape, options);
  const expected = [native.batch, ...outputSpatial(native), native.outC];
  expectShapeEquals(fn, 'gradOutput', gradOutput.shape, expected, `the conv2d output for input ${formatShape(inputShape)} and filter ${formatShape(filter.shape)}`);
  const gradInput = Tensor.zeros(inputShape);
  addon().conv2dBackwardData(gradOutput.data, filter.data, gradInput.data, packConv2DOptions(native, scratchOptions));
  return gradInput;
}

/** d(loss)/d(filter) (HWIO) and d(loss)/d(bias) of conv2d, given d(loss)/d(output). */
export function conv2dBackwardFilter(
  input: Tensor,
  gradOutput: Tensor,
  filterShape: readonly number[],
  options: Conv2DGeometry = {},
): { gradFilter: Tensor; gradBias: Tensor } {
  const fn = 'conv2dBackwardFilter';
  expectFloatTensor(fn, 'input', input, 4);
  expectFloatTensor(fn, 'gradOutput', gradOutput, 4);
  expectShape(fn, 'filterShape', filterShape as number[], 4);
  const native = conv2dNativeOptions(fn, input.shape, filterShape, options);
  const expected = [native.batch, ...outputSpatial(native), native.outC];
  expectShapeEquals(fn, 'gradOutput', gradOutput.shape, expected, `the conv2d output for input ${formatShape(input.shape)} and filter ${formatShape(filterShape)}`);
  const gradFilter = Tensor.zeros(filterShape);
  const gradBias = Tensor.zeros([native.outC]);
  addon().conv2dBackwardFilter(input.data, gradOutput.data, gradFilter.data, gradBias.data, packConv2DOptions(native, scratchOptions));
  return { gradFilter, gradBias };
}
