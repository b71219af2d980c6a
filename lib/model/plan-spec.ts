// The plan spec handed to the native Plan constructor (native/graph/plan.h).
// Buffer sizes are per sample; the plan multiplies by its batch size.

import type { Conv2DNativeOptions } from '../ops/conv';
import type { Pool2dGeometry } from '../ops/pooling';

export type PlanActivation = 'linear' | 'relu' | 'sigmoid' | 'tanh';

/** A convolution's geometry without the batch (the plan sets it per call). */
export type ConvGeometry = Omit<Conv2DNativeOptions, 'batch' | 'relu' | 'algorithm'>;

/** A pooling window's geometry without the batch. */
export type PoolGeometry = Omit<Pool2dGeometry, 'batch'>;

export interface PlanOp {
  type:
    | 'conv2d'
    | 'dense'
    | 'maxPool2d'
    | 'avgPool2d'
    | 'globalAvgPool2d'
    | 'activation'
    | 'softmax'
    | 'batchNorm'
    | 'dropout'
    | 'add'
    | 'concatenate';
  name: string;
  inputs: number[];
  output: number;
  params: number[];
  activation?: PlanActivation;
  conv?: ConvGeometry;
  pool?: PoolGeometry;
  inFeatures?: number;
  units?: number;
  spatial?: number;
  channels?: number;
  epsilon?: number;
  momentum?: number;
  rate?: number;
  seed?: number;
  concatChannels?: number[];
}

export interface PlanParam {
  name: string;
  size: number;
  trainable: boolean;
}

export interface PlanOptimizer {
  kind: 'sgd' | 'adam';
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  decoupledWeightDecay?: boolean;
}

export interface PlanSpec {
  maxBatch: number;
  bufferSampleSizes: number[];
  inputBuffer: number;
  outputBuffer: number;
  params: PlanParam[];
  ops: PlanOp[];
  loss: 'softmaxCrossEntropy' | 'meanSquaredError';
  optimizer: PlanOptimizer;
}

/** The native Plan object (native/addon/plan_binding.cpp). */
export interface NativePlan {
  parameters(): Float32Array;
  gradients(): Float32Array;
  optimizerState(): Float32Array;
  paramOffsets(): number[];
  /**
   * skipped: the update was not applied (non-finite loss or gradient);
   * weightsNonFinite: it was applied and left a weight NaN or infinite.
   */
  trainStep(images: Float32Array, labels: Int32Array | null, targets: Float32Array | null, count: number, learningRate: number): Promise<{ loss: number; correct: number; skipped: boolean; weightsNonFinite: boolean }>;
  computeGradients(images: Float32Array, labels: Int32Array | null, targets: Float32Array | null, count: number): Promise<{ loss: number; correct: number }>;
  /** exact: keep every buffer (no batch norm folded into its convolution). */
  evaluate(images: Float32Array, labels: Int32Array | null, targets: Float32Array | null, count: number, exact?: boolean): Promise<{ loss: number; correct: number }>;
  predict(images: Float32Array, count: number, output: Float32Array): Promise<unknown>;
  readBuffer(buffer: number, output: Float32Array): void;
  updateCount(): number;
  setUpdateCount(updates: number): void;
  busy(): boolean;
}

export interface PlanAddon {
  Plan: new (spec: PlanSpec) => NativePlan;
}
