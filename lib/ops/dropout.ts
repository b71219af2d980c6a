// Inverted dropout: kept elements are scaled by 1 / (1 - rate) so the
// expected output equals the input. The mask is a pure function of
// (seed, step, element index), so a step can be replayed exactly and the
// thread count never changes it.
import { loadAddon } from '../native';
import { Tensor, expectTensor } from '../tensor';
import { argumentError, expectInteger, formatShape, rangeError } from '../validate';

interface DropoutAddon {
  dropoutForward(input: Float32Array, output: Float32Array, mask: Float32Array, rate: number, seed: number, step: number): void;
  dropoutBackward(mask: Float32Array, gradOutput: Float32Array, gradInput: Float32Array): void;
}

const addon = () => loadAddon<DropoutAddon>();

export interface DropoutResult {
  output: Tensor;
  /** 1 / (1 - rate) where kept, 0 where dropped; the same shape as x. */
  mask: Tensor;
}

/** Drops each element of x with probability rate in [0, 1); rate 0 is the identity. */
export function dropout(x: Tensor, rate: number, seed: number, step = 0): DropoutResult {
  const fn = 'dropout';
  expectTensor(fn, 'x', x);
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0 || rate >= 1) throw argumentError(fn, 'rate', 'a number in [0, 1)', rate);
  expectInteger(fn, 'seed', seed, 0, Number.MAX_SAFE_INTEGER);
  expectInteger(fn, 'step', step, 0, Number.MAX_SAFE_INTEGER);
  const output = Tensor.zeros(x.shape);
  const mask = Tensor.zeros(x.shape);
  addon().dropoutForward(x.data, output.data, mask.data, rate, seed, step);
  return { output, mask };
}

/** gradOutput * mask. */
export function dropoutBackward(gradOutput: Tensor, mask: Tensor): Tensor {
  const fn = 'dropoutBackward';
  expectTensor(fn, 'gradOutput', gradOutput);
  expectTensor(fn, 'mask', mask);
  if (mask.shape.length !== gradOutput.shape.length || mask.shape.some((d, i) => d !== gradOutput.shape[i])) {
    throw rangeError(fn, 'mask', `a Tensor of shape ${formatShape(gradOutput.shape)}`, `shape ${formatShape(mask.shape)}`);
  }
  const gradInput = Tensor.zeros(gradOutput.shape);
  addon().dropoutBackward(mask.data, gradOutput.data, gradInput.data);
  return gradInput;
}
