// Optimizer updates on flat Float32Arrays, in place (parameters and state).
// SGD follows PyTorch: coupled L2 weight decay, momentum without dampening,
// optional Nesterov. Adam / AdamW (decoupled weight decay) with bias
// correction; epsilon is added to the bias-corrected root second moment.
import { loadAddon } from '../native';
import { argumentError, expectFloat32Array, expectInteger, expectNumber } from '../validate';

interface OptimizerAddon {
  sgdUpdate(param: Float32Array, grad: Float32Array, velocity: Float32Array | null, learningRate: number, momentum: number, nesterov: boolean, weightDecay: number): void;
  adamUpdate(
    param: Float32Array, grad: Float32Array, firstMoment: Float32Array, secondMoment: Float32Array,
    learningRate: number, beta1: number, beta2: number, epsilon: number, weightDecay: number, decoupled: boolean, step: number,
  ): void;
}

const addon = () => loadAddon<OptimizerAddon>();

export interface SgdOptions {
  learningRate: number;
  /** In [0, 1]; default 0 (plain SGD, no velocity needed). */
  momentum?: number;
  /** Nesterov momentum (needs momentum > 0); default false. */
  nesterov?: boolean;
  /** L2 penalty added to the gradient; default 0. */
  weightDecay?: number;
}

export interface AdamOptions {
  learningRate: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  epsilon?: number;
  /** Default 0. */
  weightDecay?: number;
  /** true: AdamW (param -= lr * weightDecay * param); false: L2 added to the gradient. Default false. */
  decoupled?: boolean;
  /** The 1-based count of updates including this one. */
  step: number;
}

function expectOptions(fn: string, options: unknown): void {
  if (typeof options !== 'object' || options === null) throw argumentError(fn, 'options', 'an options object', options);
}

function expectBoolean(fn: string, argument: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw argumentError(fn, argument, 'a boolean', value);
  return value;
}

/** One SGD step: updates param (and velocity, when momentum > 0) in place. */
export function sgdUpdate(param: Float32Array, grad: Float32Array, velocity: Float32Array | null, options: SgdOptions): void {
  const fn = 'sgdUpdate';
  expectFloat32Array(fn, 'param', param);
  expectFloat32Array(fn, 'grad', grad, param.length);
  expectOptions(fn, options);
  const learningRate = expectNumber(fn, 'learningRate', options.learningRate, 0);
  const momentum = expectNumber(fn, 'momentum', options.momentum ?? 0, 0, 1);
  const nesterov = expectBoolean(fn, 'nesterov', options.nesterov ?? false);
  const weightDecay = expectNumber(fn, 'weightDecay', options.weightDecay ?? 0, 0);
  if (momentum > 0 || velocity !== null) expectFloat32Array(fn, 'velocity', velocity, param.length);
  if (nesterov && momentum === 0) throw argumentError(fn, 'momentum', 'a momentum > 0 with nesterov', momentum);
  addon().sgdUpdate(param, grad, velocity, learningRate, momentum, nesterov, weightDecay);
}

/** One Adam / AdamW step: updates param and both moments in place. */
export function adamUpdate(param: Float32Array, grad: Float32Array, firstMoment: Float32Array, secondMoment: Float32Array, options: AdamOptions): void {
  const fn = 'adamUpdate';
  expectFloat32Array(fn, 'param', param);
  expectFloat32Array(fn, 'grad', grad, param.length);
  expectFloat32Array(fn, 'firstMoment', firstMoment, param.length);
  expectFloat32Array(fn, 'secondMoment', secondMoment, param.length);
  expectOptions(fn, options);
  const learningRate = expectNumber(fn, 'learningRate', options.learningRate, 0);
  const beta1 = expectNumber(fn, 'beta1', options.beta1 ?? 0.9, 0, 1);
  const beta2 = expectNumber(fn, 'beta2', options.beta2 ?? 0.999, 0, 1);
  if (beta1 >= 1) throw argumentError(fn, 'beta1', 'a number in [0, 1)', beta1);
  if (beta2 >= 1) throw argumentError(fn, 'beta2', 'a number in [0, 1)', beta2);
  const epsilon = expectNumber(fn, 'epsilon', options.epsilon ?? 1e-8, 0);
  if (epsilon <= 0) throw argumentError(fn, 'epsilon', 'a finite number > 0', epsilon);
  const weightDecay = expectNumber(fn, 'weightDecay', options.weightDecay ?? 0, 0);
  const decoupled = expectBoolean(fn, 'decoupled', options.decoupled ?? false);
  const step = expectInteger(fn, 'step', options.step, 1, Number.MAX_SAFE_INTEGER);
  addon().adamUpdate(param, grad, firstMoment, secondMoment, learningRate, beta1, beta2, epsilon, weightDecay, decoupled, step);
}
