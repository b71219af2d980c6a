// Softmax and losses over the last axis of logits (rows = every other axis).
// Losses are the MEAN over rows (MSE: over all elements) and their gradients
// are of that mean. Softmax subtracts each row's max, so huge logits stay finite.
import { loadAddon } from '../native';
import { Tensor, expectTensor } from '../tensor';
import { argumentError, formatShape, rangeError } from '../validate';

interface LossAddon {
  softmaxForward(logits: Float32Array, probabilities: Float32Array, rows: number, classes: number): void;
  softmaxBackward(probabilities: Float32Array, gradProbabilities: Float32Array, gradLogits: Float32Array, rows: number, classes: number): void;
  softmaxCrossEntropy(logits: Float32Array, labels: Int32Array, gradLogits: Float32Array | null, rows: number, classes: number): { loss: number; correct: number };
  softmaxCrossEntropySoft(logits: Float32Array, targets: Float32Array, gradLogits: Float32Array | null, rows: number, classes: number): { loss: number; correct: number };
  meanSquaredError(predictions: Float32Array, targets: Float32Array, gradPredictions: Float32Array | null, rows: number, classes: number): number;
}

const addon = () => loadAddon<LossAddon>();

export interface CrossEntropyResult {
  /** Mean loss over the rows. */
  loss: number;
  /** Gradient of the mean loss with respect to the logits. */
  gradLogits: Tensor;
  /** Rows whose first largest logit is at the label (soft targets: at the target's first largest entry). */
  correct: number;
}

export interface MeanSquaredErrorResult {
  loss: number;
  gradPredictions: Tensor;
}

function rowsAndClasses(fn: string, argument: string, x: Tensor): { rows: number; classes: number } {
  expectTensor(fn, argument, x);
  if (x.rank < 1) throw argumentError(fn, argument, 'a Tensor of rank >= 1', x);
  const classes = x.shape[x.rank - 1];
  return { rows: x.size / classes, classes };
}

function expectSameShape(fn: string, argument: string, tensor: Tensor, shape: readonly number[]): void {
  expectTensor(fn, argument, tensor);
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw rangeError(fn, argument, `a Tensor of shape ${formatShape(shape)}`, `shape ${formatShape(tensor.shape)}`);
  }
}

/** Softmax over the last axis. */
export function softmax(logits: Tensor): Tensor {
  const { rows, classes } = rowsAndClasses('softmax', 'logits', logits);
  const probabilities = Tensor.zeros(logits.shape);
  addon().softmaxForward(logits.data, probabilities.data, rows, classes);
  return probabilities;
}

/** Gradient with respect to the logits, from softmax's output and the gradient of its output. */
export function softmaxBackward(probabilities: Tensor, gradProbabilities: Tensor): Tensor {
  const { rows, classes } = rowsAndClasses('softmaxBackward', 'probabilities', probabilities);
  expectSameShape('softmaxBackward', 'gradProbabilities', gradProbabilities, probabilities.shape);
  const gradLogits = Tensor.zeros(probabilities.shape);
  addon().softmaxBackward(probabilities.data, gradProbabilities.data, gradLogits.data, rows, classes);
  return gradLogits;
}

/** Softmax cross-entropy with integer class labels in [0, classes), one per row. */
export function softmaxCrossEntropy(logits: Tensor, labels: Int32Array | readonly number[]): CrossEntropyResult {
  const fn = 'softmaxCrossEntropy';
  const { rows, classes } = rowsAndClasses(fn, 'logits', logits);
  if (!(labels instanceof Int32Array) && !Array.isArray(labels)) throw argumentError(fn, 'labels', 'an Int32Array or an array of integers', labels);
  if (labels.length !== rows) {
    throw rangeError(fn, 'labels', `${rows} labels (one per row of logits ${formatShape(logits.shape)})`, `${labels.length} labels`);
  }
  for (let row = 0; row < rows; row++) {
    const label = labels[row];
    if (!Number.isInteger(label) || label < 0 || label >= classes) {
      throw rangeError(fn, 'labels', `class indices in [0, ${classes - 1}]`, `${label} at row ${row}`);
    }
  }
  const labelArray = labels instanceof Int32Array ? labels : Int32Array.from(labels);
  const gradLogits = Tensor.zeros(logits.shape);
  const { loss, correct } = addon().softmaxCrossEntropy(logits.data, labelArray, gradLogits.data, rows, classes);
  return { loss, gradLogits, correct };
}

/** Softmax cross-entropy with a target distribution per row (targets shaped like logits). */
export function softmaxCrossEntropySoft(logits: Tensor, targets: Tensor): CrossEntropyResult {
  const fn = 'softmaxCrossEntropySoft';
  const { rows, classes } = rowsAndClasses(fn, 'logits', logits);
  expectSameShape(fn, 'targets', targets, logits.shape);
  const gradLogits = Tensor.zeros(logits.shape);
  const { loss, correct } = addon().softmaxCrossEntropySoft(logits.data, targets.data, gradLogits.data, rows, classes);
  return { loss, gradLogits, correct };
}

/** Mean over all elements of (prediction - target)^2. */
export function meanSquaredError(predictions: Tensor, targets: Tensor): MeanSquaredErrorResult {
  const fn = 'meanSquaredError';
  const { rows, classes } = rowsAndClasses(fn, 'predictions', predictions);
  expectSameShape(fn, 'targets', targets, predictions.shape);
  const gradPredictions = Tensor.zeros(predictions.shape);
  const loss = addon().meanSquaredError(predictions.data, targets.data, gradPredictions.data, rows, classes);
  return { loss, gradPredictions };
}
