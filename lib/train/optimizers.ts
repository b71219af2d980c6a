// Optimizer configs (the update itself runs natively over the parameter arena).
import type { PlanOptimizer } from '../model/plan-spec';
import { LearningRate, validateLearningRate } from './schedules';

export interface SgdConfig {
  learningRate?: LearningRate;
  momentum?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). */
  weightDecay?: number;
}

export interface AdamConfig {
  learningRate?: LearningRate;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  weightDecay?: number;
}

export interface Optimizer {
  name: 'sgd' | 'adam' | 'adamw';
  learningRate: LearningRate;
  plan: PlanOptimizer;
  config: Record<string, unknown>;
}

function numberIn(where: string, argument: string, value: unknown, fallback: number, min: number, max: number, maxInclusive = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (maxInclusive ? value > max : value >= max)) {
    throw new TypeError(`kiln.${where}: expected a number in [${min}, ${max}${maxInclusive ? ']' : ')'} for '${argument}' but received ${JSON.stringify(value)}`);
  }
  return value;
}

export function sgd(config: SgdConfig = {}): Optimizer {
  const learningRate = validateLearningRate(config.learningRate ?? 0.01);
  const momentum = numberIn('sgd', 'momentum', config.momentum, 0, 0, 1);
  const weightDecay = numberIn('sgd', 'weightDecay', config.weightDecay, 0, 0, 1, true);
  const nesterov = config.nesterov ?? false;
  if (nesterov && momentum === 0) throw new TypeError(`kiln.sgd: 'nesterov' needs a positive 'momentum'`);
  return {
    name: 'sgd',
    learningRate,
    plan: { kind: 'sgd', momentum, nesterov, weightDecay },
    config: { learningRate, momentum, nesterov, weightDecay },
  };
}

function adamLike(name: 'adam' | 'adamw', config: AdamConfig, decoupled: boolean): Optimizer {
  const learningRate = validateLearningRate(config.learningRate ?? 0.001);
  const beta1 = numberIn(name, 'beta1', config.beta1, 0.9, 0, 1);
  const beta2 = numberIn(name, 'beta2', config.beta2, 0.999, 0, 1);
  const epsilon = numberIn(name, 'epsilon', config.epsilon, 1e-7, Number.MIN_VALUE, 1, true);
  const weightDecay = numberIn(name, 'weightDecay', config.weightDecay, decoupled ? 0.01 : 0, 0, 1, true);
  return {
    name,
    learningRate,
    plan: { kind: 'adam', beta1, beta2, epsilon, weightDecay, decoupledWeightDecay: decoupled },
    config: { learningRate, beta1, beta2, epsilon, weightDecay },
  };
}

export function adam(config: AdamConfig = {}): Optimizer {
  return adamLike('adam', config, false);
}

/** Adam with decoupled weight decay (Loshchilov & Hutter). */
export function adamw(config: AdamConfig = {}): Optimizer {
  return adamLike('adamw', config, true);
}

export function resolveOptimizer(value: unknown): Optimizer {
  if (value === 'sgd') return sgd();
  if (value === 'adam') return adam();
  if (value === 'adamw') return adamw();
  if (value && typeof value === 'object' && 'plan' in value && 'name' in value) return value as Optimizer;
  throw new TypeError(`kiln.compile: expected 'sgd', 'adam', 'adamw' or an optimizer from sgd() / adam() / adamw() for 'optimizer' but received ${JSON.stringify(value)}`);
}

export function optimizerFromConfig(name: string, config: Record<string, unknown>): Optimizer {
  if (name === 'sgd') return sgd(config as SgdConfig);
  if (name === 'adam') return adam(config as AdamConfig);
  if (name === 'adamw') return adamw(config as AdamConfig);
  throw new Error(`kiln.loadModel: unknown optimizer '${name}'`);
}
