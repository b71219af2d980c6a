// Activations, bias and elementwise arithmetic. Activation gradients take the
// forward OUTPUT (what a training graph keeps): relu' = (y > 0),
// sigmoid' = y (1 - y), tanh' = 1 - y^2.
import { loadAddon } from '../native';
import { Tensor, expectTensor } from '../tensor';
import { argumentError, formatShape, rangeError } from '../validate';

export type ActivationKind = 'relu' | 'sigmoid' | 'tanh' | 'linear';

interface ElementwiseAddon {
  activationForward(kind: ActivationKind, input: Float32Array, output: Float32Array): void;
  activationBackward(kind: ActivationKind, output: Float32Array, gradOutput: Float32Array, gradInput: Float32Array): void;
  biasAdd(data: Float32Array, bias: Float32Array, rows: number, channels: number): void;
  biasGradient(gradOutput: Float32Array, gradBias: Float32Array, rows: number, channels: number): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
}

const addon = () => loadAddon<ElementwiseAddon>();
const kinds: readonly ActivationKind[] = ['relu', 'sigmoid', 'tanh', 'linear'];

function expectKind(fn: string, kind: unknown): ActivationKind {
  if (!kinds.includes(kind as ActivationKind)) throw argumentError(fn, 'kind', "one of 'relu', 'sigmoid', 'tanh', 'linear'", kind);
  return kind as ActivationKind;
}

function expectSameShape(fn: string, argument: string, tensor: Tensor, shape: readonly number[]): void {
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw rangeError(fn, argument, `a Tensor of shape ${formatShape(shape)}`, `shape ${formatShape(tensor.shape)}`);
  }
}

/** Applies an activation elementwise; returns a new tensor. */
export function activation(kind: ActivationKind, x: Tensor): Tensor {
  expectKind('activation', kind);
  expectTensor('activation', 'x', x);
  const output = Tensor.zeros(x.shape);
  addon().activationForward(kind, x.data, output.data);
  return output;
}

export function relu(x: Tensor): Tensor {
  expectTensor('relu', 'x', x);
  return activation('relu', x);
}

export function sigmoid(x: Tensor): Tensor {
  expectTensor('sigmoid', 'x', x);
  return activation('sigmoid', x);
}

export function tanh(x: Tensor): Tensor {
  expectTensor('tanh', 'x', x);
  return activation('tanh', x);
}

/** Gradient of an activation with respect to its input, from the activation's output. */
export function activationBackward(kind: ActivationKind, output: Tensor, gradOutput: Tensor): Tensor {
  expectKind('activationBackward', kind);
  expectTensor('activationBackward', 'output', output);
  expectTensor('activationBackward', 'gradOutput', gradOutput);
  expectSameShape('activationBackward', 'gradOutput', gradOutput, output.shape);
  const gradInput = Tensor.zeros(output.shape);
  addon().activationBackward(kind, output.data, gradOutput.data, gradInput.data);
  return gradInput;
}

function lastAxis(fn: string, x: Tensor, bias: Tensor, biasName: string): { rows: number; channels: number } {
  expectTensor(fn, 'x', x);
  expectTensor(fn, biasName, bias, 1);
  if (x.rank < 1) throw argumentError(fn, 'x', 'a Tensor of rank >= 1', x);
  const channels = x.shape[x.rank - 1];
  if (bias.size !== channels) {
    throw rangeError(fn, biasName, `a Tensor of shape [${channels}] (the last axis of x ${formatShape(x.shape)})`, `shape ${formatShape(bias.shape)}`);
  }
  return { rows: x.size / channels, channels };
}

/** x + bias along the last axis (channels); returns a new tensor. */
export function biasAdd(x: Tensor, bias: Tensor): Tensor {
  const { rows, channels } = lastAxis('biasAdd', x, bias, 'bias');
  const output = x.clone();
  addon().biasAdd(output.data, bias.data, rows, channels);
  return output;
}

/** Gradient of biasAdd with respect to the bias: gradOutput summed over every axis but the last. */
export function biasGradient(gradOutput: Tensor): Tensor {
  expectTensor('biasGradient', 'gradOutput', gradOutput);
  if (gradOutput.rank < 1) throw argumentError('biasGradient', 'gradOutput', 'a Tensor of rank >= 1', gradOutput);
  const channels = gradOutput.shape[gradOutput.rank - 1];
  const gradBias = Tensor.zeros([channels]);
  addon().biasGradient(gradOutput.data, gradBias.data, gradOutput.size / channels, channels);
  return gradBias;
}

/** Elementwise a + b of two tensors of the same shape. */
export function add(a: Tensor, b: Tensor): Tensor {
  expectTensor('add', 'a', a);
  expectTensor('add', 'b', b);
  expectSameShape('add', 'b', b, a.shape);
  const output = Tensor.zeros(a.shape);
  addon().add(a.data, b.data, output.data);
  return output;
}
