// save / load: a folder with model.json (architecture, training config) and
// weights-NNNNNN.safetensors (weights, plus optimizer state to resume).
// A save writes a NEW weights file (atomically: temporary file, fsync,
// rename), then swaps model.json (atomically) to point at it, then deletes
// older weights files. A crash at any moment leaves a model.json that names a
// complete weights file: the previous checkpoint or the new one, never a mix.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { layerFromConfig } from '../layers';
import { input } from '../layers/core';
import { SymbolicTensor } from '../layers/layer';
import { topologicalOrder } from './graph';
import { readSafetensors, writeSafetensors, writeFileAtomic } from '../io';
import type { TensorMap } from '../io';
import { optimizerFromConfig } from '../train/optimizers';
import { formatShape } from '../validate';
import { Model, LossName } from './model';

const FORMAT = 'kiln-model';
const VERSION = 1;
const OPTIMIZER_STATE = '__optimizer_state__';

interface SavedNode {
  className: string;
  config: Record<string, unknown>;
  inbound: string[];
}

interface SavedModel {
  format: string;
  version: number;
  name: string;
  seed: number;
  nodes: SavedNode[];
  output: string;
  weights: string;
  training?: { optimizer: { name: string; config: Record<string, unknown> }; loss: string; updates: number };
}

export async function saveModel(model: Model, dir: string, options: { includeOptimizer?: boolean } = {}): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const generation = nextGeneration(dir);
  const weightsName = `weights-${String(generation).padStart(6, '0')}.safetensors`;
  const tensors: TensorMap = {};
  for (const [key, data] of model.weightViews()) {
    const entry = model.weightEntries.find((e) => e.key === key)!;
    tensors[key] = { shape: entry.shape, data };
  }
  const snapshot = options.includeOptimizer === false ? undefined : model.optimizerStateSnapshot();
  if (snapshot && snapshot.state.length > 0) tensors[OPTIMIZER_STATE] = { shape: [snapshot.state.length], data: snapshot.state };
  const saved: SavedModel = {
    format: FORMAT,
    version: VERSION,
    name: model.name,
    seed: model.seed,
    nodes: model.nodes.map((node) => ({ className: node.layer.className, config: node.layer.getConfig(), inbound: node.inputs.map((i) => i.layer.name) })),
    output: model.output.layer.name,
    weights: weightsName,
  };
  if (model.optimizer && model.lossName) {
    saved.training = { optimizer: { name: model.optimizer.name, config: model.optimizer.config }, loss: model.lossName, updates: snapshot?.updates ?? 0 };
  }
  writeSafetensors(path.join(dir, weightsName), tensors, { format: FORMAT, model: model.name });
  writeFileAtomic(path.join(dir, 'model.json'), JSON.stringify(saved, null, 2) + '\n');
  for (const name of weightFiles(dir)) {
    if (name !== weightsName) fs.rmSync(path.join(dir, name), { force: true });
  }
}

const WEIGHTS_PATTERN = /^weights-(\d{6,})\.safetensors$/;

function weightFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => WEIGHTS_PATTERN.test(name));
}

function nextGeneration(dir: string): number {
  const generations = weightFiles(dir).map((name) => Number(WEIGHTS_PATTERN.exec(name)![1]));
  return generations.length ? Math.max(...generations) + 1 : 1;
}

function invalid(file: string, problem: string): Error {
  return new Error(`kiln.loadModel: ${file}: ${problem}`);
}

function parseSaved(file: string): SavedModel {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw invalid(file, `cannot read it (${(error as Error).message}); expected a folder written by model.save()`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(file, `not valid JSON (${(error as Error).message})`);
  }
  const saved = value as SavedModel;
  if (!saved || typeof saved !== 'object' || saved.format !== FORMAT) throw invalid(file, `not a kiln model (expected "format": "${FORMAT}")`);
  if (saved.version !== VERSION) throw invalid(file, `format version ${saved.version} is not supported (this kiln reads version ${VERSION})`);
  if (!Array.isArray(saved.nodes) || saved.nodes.length < 2) throw invalid(file, "'nodes' must list the input and at least one layer");
  for (const [index, node] of saved.nodes.entries()) {
    if (!node || typeof node.className !== 'string' || !node.config || typeof node.config !== 'object' || !Array.isArray(node.inbound)) {
      throw invalid(file, `node ${index} must have className, config and inbound`);
    }
  }
  if (typeof saved.output !== 'string') throw invalid(file, "'output' must name the output layer");
  if (typeof saved.weights !== 'string' || !WEIGHTS_PATTERN.test(saved.weights)) {
    throw invalid(file, "'weights' must name a weights-NNNNNN.safetensors file in the same folder");
  }
  return saved;
}

export async function loadModel(dir: string): Promise<Model> {
  const jsonFile = path.join(dir, 'model.json');
  const saved = parseSaved(jsonFile);
  const tensors = new Map<string, SymbolicTensor>();
  let modelInput: SymbolicTensor | undefined;
  for (const [index, node] of saved.nodes.entries()) {
    const name = String(node.config.name ?? '');
    if (node.className === 'InputLayer') {
      if (modelInput) throw invalid(jsonFile, 'more than one input layer');
      modelInput = input(node.config as { shape: number[]; name?: string });
      tensors.set(name, modelInput);
      continue;
    }
    const inbound = node.inbound.map((inboundName) => {
      const tensor = tensors.get(inboundName);
      if (!tensor) throw invalid(jsonFile, `node ${index} ('${name}') reads '${inboundName}', which is not defined before it`);
      return tensor;
    });
    let layer;
    try {
      layer = layerFromConfig(node.className, node.config);
    } catch (error) {
      throw invalid(jsonFile, `node ${index} ('${name}'): ${(error as Error).message}`);
    }
    tensors.set(layer.name, layer.apply(inbound.length === 1 ? inbound[0] : inbound));
  }
  const output = tensors.get(saved.output);
  if (!modelInput || !output) throw invalid(jsonFile, 'the input or the output layer is missing');
  const weightsFile = path.join(dir, saved.weights);
  // model.json is untrusted: before any weight is allocated, the parameters it
  // describes must be of the order of the weights file that is really there
  // (a small mismatch is reported below, weight by weight, more helpfully).
  let parameterCount = 0;
  for (const node of topologicalOrder(output)) {
    if (node.inputs.length === 0) continue;
    for (const def of node.layer.paramDefs(node.inputs.map((i) => i.shape))) parameterCount += def.shape.reduce((a, b) => a * b, 1);
  }
  let weightsBytes: number;
  try {
    weightsBytes = fs.statSync(weightsFile).size;
  } catch (error) {
    throw invalid(weightsFile, `cannot read it (${(error as Error).message})`);
  }
  if (parameterCount * 4 > 2 * weightsBytes + 2 ** 20) {
    throw invalid(jsonFile, `the layers describe ${parameterCount} parameters (${parameterCount * 4} bytes) but ${saved.weights} holds only ${weightsBytes} bytes`);
  }
  const model = new Model({ inputs: modelInput, outputs: output, name: saved.name, seed: Number.isInteger(saved.seed) ? saved.seed : 0 });

  const { tensors: stored } = readSafetensors(weightsFile);
  const weights = new Map<string, Float32Array>();
  for (const entry of model.weightEntries) {
    const tensor = stored[entry.key];
    if (!tensor) throw invalid(weightsFile, `weight '${entry.key}' is missing (the file has ${Object.keys(stored).length} tensors)`);
    if (tensor.shape.length !== entry.shape.length || tensor.shape.some((d, i) => d !== entry.shape[i])) {
      throw invalid(weightsFile, `weight '${entry.key}' has shape ${formatShape(tensor.shape)} but layer '${entry.layer}' needs ${formatShape(entry.shape)}`);
    }
    weights.set(entry.key, tensor.data);
  }
  const extra = Object.keys(stored).filter((key) => key !== OPTIMIZER_STATE && !model.weightEntries.some((e) => e.key === key));
  if (extra.length) throw invalid(weightsFile, `unexpected tensors ${extra.slice(0, 5).join(', ')} that no layer of model.json owns`);
  model.setWeights(weights);
  if (saved.training !== undefined) {
    const training = saved.training as unknown as Record<string, unknown>;
    const optimizerEntry = training?.optimizer as Record<string, unknown> | undefined;
    if (!optimizerEntry || typeof optimizerEntry.name !== 'string' || !optimizerEntry.config || typeof optimizerEntry.config !== 'object' || typeof training.loss !== 'string') {
      throw invalid(jsonFile, "'training' must hold optimizer { name, config } and loss");
    }
    const optimizer = optimizerFromConfig(saved.training.optimizer.name, saved.training.optimizer.config);
    model.compile({ optimizer, loss: saved.training.loss as LossName });
    const state = stored[OPTIMIZER_STATE];
    if (state) model.restoreOptimizerState(state.data, Number(saved.training.updates) || 0);
  }
  return model;
}
