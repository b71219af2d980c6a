// Batch normalisation over the last (channel) axis of NHWC data; a dense
// layer's [batch, features] output works the same. Training normalises with
// the batch statistics (biased variance) and updates the running statistics
// in place as running = (1 - momentum) * running + momentum * batch
// (unbiased variance), PyTorch's convention for momentum.
import { loadAddon } from '../native';
import { Tensor, expectTensor } from '../tensor';
import { argumentError, expectNumber, formatShape, rangeError } from '../validate';

interface NormalizationAddon {
  batchNormForwardTraining(
    input: Float32Array, gamma: Float32Array, beta: Float32Array, output: Float32Array,
    savedMean: Float32Array, savedInvStd: Float32Array, runningMean: Float32Array | null, runningVar: Float32Array | null,
    rows: number, channels: number, epsilon: number, momentum: number,
  ): void;
  batchNormForwardInference(
    input: Float32Array, gamma: Float32Array, beta: Float32Array, runningMean: Float32Array, runningVar: Float32Array,
    output: Float32Array, rows: number, channels: number, epsilon: number,
  ): void;
  batchNormBackward(
    input: Float32Array, gradOutput: Float32Array, gamma: Float32Array, savedMean: Float32Array, savedInvStd: Float32Array,
    gradInput: Float32Array, gradGamma: Float32Array, gradBeta: Float32Array, rows: number, channels: number,
  ): void;
}

const addon = () => loadAddon<NormalizationAddon>();

export interface BatchNormTrainingOptions {
  /** Added to the variance; default 1e-5. */
  epsilon?: number;
  /** Weight of the batch statistic in the running update; default 0.1. */
  momentum?: number;
  /** [C], updated in place when given. */
  runningMean?: Tensor;
  /** [C], updated in place when given. */
  runningVar?: Tensor;
}

export interface BatchNormTrainingResult {
  output: Tensor;
  /** Batch mean per channel [C], for batchNormBackward. */
  savedMean: Tensor;
  /** 1 / sqrt(biased batch variance + epsilon) per channel [C], for batchNormBackward. */
  savedInvStd: Tensor;
}

export interface BatchNormGradients {
  gradInput: Tensor;
  gradGamma: Tensor;
  gradBeta: Tensor;
}

function channelsOf(fn: string, x: Tensor): { rows: number; channels: number } {
  expectTensor(fn, 'x', x);
  if (x.rank < 1) throw argumentError(fn, 'x', 'a Tensor of rank >= 1', x);
  const channels = x.shape[x.rank - 1];
  return { rows: x.size / channels, channels };
}

function expectChannelVector(fn: string, argument: string, value: unknown, channels: number, x: Tensor): Tensor {
  const tensor = expectTensor(fn, argument, value);
  if (tensor.rank !== 1 || tensor.size !== channels) {
    throw rangeError(fn, argument, `a Tensor of shape [${channels}] (the channels of x ${formatShape(x.shape)})`, `shape ${formatShape(tensor.shape)}`);
  }
  return tensor;
}

function expectEpsilon(fn: string, epsilon: unknown): number {
  const value = expectNumber(fn, 'epsilon', epsilon, 0);
  if (value <= 0) throw argumentError(fn, 'epsilon', 'a finite number > 0', epsilon);
  return value;
}

/** Training-mode batch norm of x [..., C] with the batch's statistics. */
export function batchNormTraining(x: Tensor, gamma: Tensor, beta: Tensor, options: BatchNormTrainingOptions = {}): BatchNormTrainingResult {
  const fn = 'batchNormTraining';
  const { rows, channels } = channelsOf(fn, x);
  expectChannelVector(fn, 'gamma', gamma, channels, x);
  expectChannelVector(fn, 'beta', beta, channels, x);
  if (typeof options !== 'object' || options === null) throw argumentError(fn, 'options', 'an options object', options);
  const epsilon = expectEpsilon(fn, options.epsilon ?? 1e-5);
  const momentum = expectNumber(fn, 'momentum', options.momentum ?? 0.1, 0, 1);
  const runningMean = options.runningMean === undefined ? null : expectChannelVector(fn, 'runningMean', options.runningMean, channels, x);
  const runningVar = options.runningVar === undefined ? null : expectChannelVector(fn, 'runningVar', options.runningVar, channels, x);
  const output = Tensor.zeros(x.shape);
  const savedMean = Tensor.zeros([channels]);
  const savedInvStd = Tensor.zeros([channels]);
  addon().batchNormForwardTraining(
    x.data, gamma.data, beta.data, output.data, savedMean.data, savedInvStd.data,
    runningMean?.data ?? null, runningVar?.data ?? null, rows, channels, epsilon, momentum,
  );
  return { output, savedMean, savedInvStd };
}

/** Inference-mode batch norm of x [..., C] with running statistics. */
export function batchNormInference(
  x: Tensor, gamma: Tensor, beta: Tensor, runningMean: Tensor, runningVar: Tensor, options: { epsilon?: number } = {},
): Tensor {
  const fn = 'batchNormInference';
  const { rows, channels } = channelsOf(fn, x);
  expectChannelVector(fn, 'gamma', gamma, channels, x);
  expectChannelVector(fn, 'beta', beta, channels, x);
  expectChannelVector(fn, 'runningMean', runningMean, channels, x);
  expectChannelVector(fn, 'runningVar', runningVar, channels, x);
  if (typeof options !== 'object' || options === null) throw argumentError(fn, 'options', 'an options object', options);
  const epsilon = expectEpsilon(fn, options.epsilon ?? 1e-5);
  const output = Tensor.zeros(x.shape);
  addon().batchNormForwardInference(x.data, gamma.data, beta.data, runningMean.data, runningVar.data, output.data, rows, channels, epsilon);
  return output;
}

/** Gradients of training-mode batch norm, from the savedMean / savedInvStd of the forward pass. */
export function batchNormBackward(x: Tensor, gradOutput: Tensor, gamma: Tensor, savedMean: Tensor, savedInvStd: Tensor): BatchNormGradients {
  const fn = 'batchNormBackward';
  const { rows, channels } = channelsOf(fn, x);
  expectTensor(fn, 'gradOutput', gradOutput);
  if (gradOutput.shape.length !== x.shape.length || gradOutput.shape.some((d, i) => d !== x.shape[i])) {
    throw rangeError(fn, 'gradOutput', `a Tensor of shape ${formatShape(x.shape)}`, `shape ${formatShape(gradOutput.shape)}`);
  }
  expectChannelVector(fn, 'gamma', gamma, channels, x);
  expectChannelVector(fn, 'savedMean', savedMean, channels, x);
  expectChannelVector(fn, 'savedInvStd', savedInvStd, channels, x);
  const gradInput = Tensor.zeros(x.shape);
  const gradGamma = Tensor.zeros([channels]);
  const gradBeta = Tensor.zeros([channels]);
  addon().batchNormBackward(
    x.data, gradOutput.data, gamma.data, savedMean.data, savedInvStd.data, gradInput.data, gradGamma.data, gradBeta.data, rows, channels,
  );
  return { gradInput, gradGamma, gradBeta };
}
