// Lowers a model's DAG to a native plan spec: one buffer per produced tensor
// (flatten and input alias their input), the parameters in model order, and
// each layer's ops in topological order.
import type { SymbolicTensor } from '../layers/layer';
import { shapeSize } from '../validate';
import type { PlanOptimizer, PlanSpec } from './plan-spec';

export interface WeightEntry {
  /** "layer/param" */
  key: string;
  layer: string;
  param: string;
  shape: number[];
  trainable: boolean;
}

export interface LoweringOptions {
  maxBatch: number;
  loss: 'softmaxCrossEntropy' | 'meanSquaredError';
  optimizer: PlanOptimizer;
  /** Drop the output layer's softmax: the loss works on logits. */
  stripOutputSoftmax: boolean;
  seed: number;
}

export function lowerModel(nodes: SymbolicTensor[], output: SymbolicTensor, weights: WeightEntry[], options: LoweringOptions): { spec: PlanSpec; bufferOf: Map<number, number>; fusedAway: Set<number> } {
  const bufferSampleSizes: number[] = [];
  const newBuffer = (size: number) => {
    bufferSampleSizes.push(size);
    return bufferSampleSizes.length - 1;
  };
  const paramIndex = new Map(weights.map((weight, index) => [weight.key, index]));
  const bufferOf = new Map<number, number>();
  const ops: PlanSpec['ops'] = [];
  let layerIndex = 0;
  for (const node of nodes) {
    layerIndex++;
    if (node.inputs.length === 0) {
      bufferOf.set(node.id, newBuffer(shapeSize(node.shape)));
      continue;
    }
    const layer = node.layer;
    const lowered = layer.lower(
      {
        inputBuffers: node.inputs.map((input) => bufferOf.get(input.id)!),
        newBuffer,
        param: (name) => {
          const index = paramIndex.get(`${layer.name}/${name}`);
          if (index === undefined) throw new Error(`kiln.compile: layer '${layer.name}' has no parameter '${name}'`);
          return index;
        },
        seed: (options.seed * 1000003 + layerIndex * 7919) >>> 0,
        stripActivation: node === output && options.stripOutputSoftmax,
      },
      node.inputs.map((input) => input.shape),
      node.shape,
    );
    ops.push(...lowered.ops);
    bufferOf.set(node.id, lowered.output);
  }
  const fusedAway = fuseNormalizationActivations(ops, bufferOf.get(output.id)!);
  for (const buffer of fuseNormalizationResiduals(ops, bufferOf.get(output.id)!)) fusedAway.add(buffer);
  const spec: PlanSpec = {
    maxBatch: options.maxBatch,
    bufferSampleSizes,
    inputBuffer: 0,
    outputBuffer: bufferOf.get(output.id)!,
    params: weights.map((weight) => ({ name: weight.key, size: shapeSize(weight.shape), trainable: weight.trainable })),
    ops,
    loss: options.loss,
    optimizer: options.optimizer,
  };
  return { spec, bufferOf, fusedAway };
}

/**
 * Folds an activation layer (relu, sigmoid, tanh) into the batch norm that
 * feeds it when nothing else reads the batch norm's output: one pass over
 * memory instead of two, forward and backward. Returns the buffers that no
 * op computes any more.
 */
function fuseNormalizationActivations(ops: PlanSpec['ops'], outputBuffer: number): Set<number> {
  const readers = countReaders(ops);
  const fusedAway = new Set<number>();
  for (let i = 0; i < ops.length; i++) {
    const norm = ops[i];
    if (norm.type !== 'batchNorm' || (norm.activation ?? 'linear') !== 'linear') continue;
    if (norm.output === outputBuffer || readers.get(norm.output) !== 1) continue;
    const index = ops.findIndex((op) => op.type === 'activation' && op.inputs[0] === norm.output);
    if (index < 0) continue;
    const activation = ops[index];
    norm.activation = activation.activation;
    fusedAway.add(norm.output);
    norm.output = activation.output;
    ops.splice(index, 1);
  }
  return fusedAway;
}

/**
 * Folds a two-input add (with its activation) into the linear batch norm that
 * feeds one of its inputs, when nothing else reads the batch norm's output:
 * a ResNet block's second batch norm, shortcut add and ReLU become one op
 * (inputs [normalised, residual]) that never stores the normalised tensor.
 * The fused op takes the add's place in the order, where the residual is
 * already computed. Returns the buffers that no op computes any more.
 */
function fuseNormalizationResiduals(ops: PlanSpec['ops'], outputBuffer: number): Set<number> {
  const readers = countReaders(ops);
  const fusedAway = new Set<number>();
  for (let i = 0; i < ops.length; i++) {
    const norm = ops[i];
    if (norm.type !== 'batchNorm' || norm.inputs.length !== 1 || (norm.activation ?? 'linear') !== 'linear') continue;
    if (norm.output === outputBuffer || readers.get(norm.output) !== 1) continue;
    const index = ops.findIndex((op) => op.type === 'add' && op.inputs.length === 2 && op.inputs.includes(norm.output));
    if (index < 0) continue;
    const add = ops[index];
    const residual = add.inputs[0] === norm.output ? add.inputs[1] : add.inputs[0];
    if (residual === norm.output || residual === norm.inputs[0]) continue;
    fusedAway.add(norm.output);
    ops[index] = { ...norm, inputs: [norm.inputs[0], residual], output: add.output, activation: add.activation ?? 'linear' };
    ops.splice(i, 1);
    i--;
  }
  return fusedAway;
}

/** How many op inputs read each buffer. */
function countReaders(ops: PlanSpec['ops']): Map<number, number> {
  const readers = new Map<number, number>();
  for (const op of ops) for (const input of op.inputs) readers.set(input, (readers.get(input) ?? 0) + 1);
  return readers;
}
