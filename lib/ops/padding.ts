// Padding and output-size arithmetic shared by convolution and pooling layers.
//   out = floor((in + padBefore + padAfter - effectiveKernel) / stride) + 1
//   effectiveKernel = dilation * (kernel - 1) + 1
// 'same' follows TensorFlow: total padding makes out = ceil(in / stride), the
// odd pixel going to the bottom / right.

export type Padding = 'same' | 'valid' | number | [number, number, number, number];
export type Pads = [top: number, bottom: number, left: number, right: number];

export function effectiveKernel(kernel: number, dilation: number): number {
  return dilation * (kernel - 1) + 1;
}

export function samePads(input: number, kernel: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(input / stride);
  const total = Math.max((out - 1) * stride + effectiveKernel(kernel, dilation) - input, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

export function resolvePads(
  padding: Padding,
  inH: number,
  inW: number,
  kernelH: number,
  kernelW: number,
  strideH: number,
  strideW: number,
  dilationH = 1,
  dilationW = 1,
): Pads {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const [top, bottom] = samePads(inH, kernelH, strideH, dilationH);
    const [left, right] = samePads(inW, kernelW, strideW, dilationW);
    return [top, bottom, left, right];
  }
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  return [padding[0], padding[1], padding[2], padding[3]];
}

export function outputSize(input: number, kernel: number, stride: number, padBefore: number, padAfter: number, dilation = 1): number {
  return Math.floor((input + padBefore + padAfter - effectiveKernel(kernel, dilation)) / stride) + 1;
}

export function isPadding(value: unknown): value is Padding {
  if (value === 'same' || value === 'valid') return true;
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0;
  return Array.isArray(value) && value.length === 4 && value.every((v) => Number.isInteger(v) && v >= 0);
}

export function pair(value: number | readonly number[]): [number, number] {
  return typeof value === 'number' ? [value, value] : [value[0], value[1]];
}
