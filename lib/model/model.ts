// Model: a DAG of layers with its weights. compile() chooses loss and
// optimizer; the first step builds the native plan for the batch size in use.
// From then on the weights ARE the plan's memory (zero-copy views), so fit,
// getWeights and save all see the same numbers without copies.
import { Layer, ParamDef, Shape, SymbolicTensor } from '../layers/layer';
import { initialize } from '../layers/initializers';
import { loadAddon } from '../native';
import { Tensor } from '../tensor';
import { formatShape, shapeSize } from '../validate';
import { Callback, Logs } from '../train/callbacks';
import { fit as runFit, FitOptions, History } from '../train/fit';
import { Optimizer, resolveOptimizer } from '../train/optimizers';
import { learningRateAt } from '../train/schedules';
import { gatherBatches, Samples, toSamples, TrainingData } from '../train/samples';
import { checkGraph } from './graph';
import { lowerModel, WeightEntry } from './lowering';
import type { NativePlan, PlanAddon } from './plan-spec';
import { formatSummary, ModelSummary, summarize } from './summary';

export type LossName = 'softmaxCrossEntropy' | 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy' | 'meanSquaredError' | 'mse';

export interface CompileOptions {
  optimizer: Optimizer | 'sgd' | 'adam' | 'adamw';
  loss: LossName;
  /** 'accuracy' is reported for classification losses; accepted for Keras familiarity. */
  metrics?: string[];
}

export interface ModelConfig {
  inputs: SymbolicTensor;
  outputs: SymbolicTensor;
  name?: string;
  /** Seed for weight initialisation and dropout; the same seed gives the same model. */
  seed?: number;
}

interface CompiledState {
  optimizer: Optimizer;
  loss: 'softmaxCrossEntropy' | 'meanSquaredError';
  lossName: LossName;
}

const lossNames: readonly LossName[] = ['softmaxCrossEntropy', 'sparseCategoricalCrossentropy', 'categoricalCrossentropy', 'meanSquaredError', 'mse'];

export class Model {
  readonly name: string;
  readonly input: SymbolicTensor;
  readonly output: SymbolicTensor;
  readonly nodes: SymbolicTensor[];
  readonly layers: Layer[];
  readonly seed: number;
  /** Set by a callback to end fit after the current epoch. */
  stopTraining = false;

  private readonly entries: WeightEntry[] = [];
  private values: Float32Array[] = [];
  private compiled?: CompiledState;
  private plan?: NativePlan;
  private planBatch = 0;
  private planOutputBuffers = new Map<number, number>();
  private running = false;
  private savedOptimizerState?: { state: Float32Array; updates: number };

  constructor(config: ModelConfig) {
    if (!(config?.inputs instanceof SymbolicTensor) || !(config?.outputs instanceof SymbolicTensor)) {
      throw new TypeError('kiln.model: expected { inputs: input(...), outputs: <a layer output> }');
    }
    this.name = config.name ?? 'model';
    this.seed = config.seed ?? 0;
    if (!Number.isInteger(this.seed) || this.seed < 0) throw new TypeError(`kiln.model: expected a non-negative integer for 'seed' but received ${config.seed}`);
    this.input = config.inputs;
    this.output = config.outputs;
    const { nodes, layers } = checkGraph(this.input, this.output);
    this.nodes = nodes;
    this.layers = layers;
    if (this.output.shape.length !== 1) {
      throw new Error(`kiln.model: the output layer '${this.output.layer.name}' must produce a flat vector per sample, but its shape is ${formatShape(this.output.shape)}; add flatten() or globalAveragePooling2d() and a dense layer`);
    }
    let paramIndex = 0;
    for (const node of nodes) {
      const defs: ParamDef[] = node.inputs.length === 0 ? [] : node.layer.paramDefs(node.inputs.map((i) => i.shape));
      for (const def of defs) {
        const entry: WeightEntry = { key: `${node.layer.name}/${def.name}`, layer: node.layer.name, param: def.name, shape: def.shape, trainable: def.trainable };
        const data = new Float32Array(shapeSize(def.shape));
        initialize(def.initializer, def.shape, (this.seed * 7919 + ++paramIndex * 104729) >>> 0, data);
        this.entries.push(entry);
        this.values.push(data);
      }
    }
  }

  get inputShape(): Shape {
    return this.input.shape;
  }

  get outputSize(): number {
    return this.output.shape[0];
  }

  get weightEntries(): readonly WeightEntry[] {
    return this.entries;
  }

  summaryData(): ModelSummary {
    return summarize(this.nodes);
  }

  /** The Keras-style table; printed (through `print`, default console.log) and returned. */
  summary(print: ((line: string) => void) | null = console.log): string {
    const showInbound = this.nodes.some((node) => node.inputs.length > 1);
    const text = formatSummary(this.name, this.summaryData(), showInbound);
    if (print) print(text);
    return text;
  }

  countParams(): number {
    return this.summaryData().totalParams;
  }

  compile(options: CompileOptions): void {
    this.ensureIdle('compile');
    if (!options || typeof options !== 'object') throw new TypeError('kiln.compile: expected { optimizer, loss }');
    const optimizer = resolveOptimizer(options.optimizer);
    if (!lossNames.includes(options.loss)) {
      throw new TypeError(`kiln.compile: expected one of ${lossNames.join(', ')} for 'loss' but received ${JSON.stringify(options.loss)}`);
    }
    const loss = options.loss === 'meanSquaredError' || options.loss === 'mse' ? 'meanSquaredError' : 'softmaxCrossEntropy';
    if (this.plan && this.compiled && this.compiled.optimizer.name === optimizer.name) {
      this.savedOptimizerState = { state: this.plan.optimizerState().slice(), updates: this.plan.updateCount() };
    } else {
      this.savedOptimizerState = undefined;
    }
    this.compiled = { optimizer, loss, lossName: options.loss };
    this.dropPlan();
  }

  get isCompiled(): boolean {
    return this.compiled !== undefined;
  }

  get optimizer(): Optimizer | undefined {
    return this.compiled?.optimizer;
  }

  get lossName(): LossName | undefined {
    return this.compiled?.lossName;
  }

  /** Optimizer steps taken so far (drives learning-rate schedules and Adam's bias correction). */
  get updates(): number {
    return this.plan ? this.plan.updateCount() : (this.savedOptimizerState?.updates ?? 0);
  }

  private stripsSoftmax(): boolean {
    return (this.compiled?.loss ?? 'softmaxCrossEntropy') === 'softmaxCrossEntropy' && this.output.layer.outputActivation() === 'softmax';
  }

  /** The native plan, rebuilt when a larger batch is needed. */
  ensurePlan(batch: number, forTraining = true): NativePlan {
    if (!this.compiled && forTraining) throw new Error(`kiln.Model: model '${this.name}' is not compiled; call model.compile({ optimizer, loss }) first`);
    if (this.plan && this.planBatch >= batch) return this.plan;
    if (this.plan) this.savedOptimizerState = { state: this.plan.optimizerState().slice(), updates: this.plan.updateCount() };
    // An uncompiled model can still predict: its plan never runs an update.
    const { spec, bufferOf, fusedAway } = lowerModel(this.nodes, this.output, this.entries, {
      maxBatch: batch,
      loss: this.compiled?.loss ?? 'softmaxCrossEntropy',
      optimizer: this.compiled?.optimizer.plan ?? { kind: 'sgd' },
      stripOutputSoftmax: this.stripsSoftmax(),
      seed: this.seed,
    });
    const { Plan } = loadAddon<PlanAddon>();
    const plan = new Plan(spec);
    const arena = plan.parameters();
    const offsets = plan.paramOffsets();
    this.values = this.values.map((old, i) => {
      const view = arena.subarray(offsets[i], offsets[i] + old.length);
      view.set(old);
      return view;
    });
    if (this.savedOptimizerState) {
      const state = plan.optimizerState();
      if (state.length === this.savedOptimizerState.state.length) state.set(this.savedOptimizerState.state);
      plan.setUpdateCount(this.savedOptimizerState.updates);
      this.savedOptimizerState = undefined;
    }
    this.plan = plan;
    this.planBatch = batch;
    this.planOutputBuffers = new Map([...bufferOf].filter(([, buffer]) => !fusedAway.has(buffer)));
    return plan;
  }

  /** Inference reuses the training plan when one exists (in chunks of its batch size). */
  private inferencePlan(batchSize: number, count: number): NativePlan {
    if (this.plan) return this.plan;
    return this.ensurePlan(Math.max(1, Math.min(batchSize, count)), false);
  }

  private dropPlan(): void {
    if (!this.plan) return;
    this.values = this.values.map((view) => view.slice());
    this.plan = undefined;
    this.planBatch = 0;
  }

  /** Guards against overlapping native calls (a second fit, or predict during fit). */
  async exclusive<T>(what: string, run: () => Promise<T>): Promise<T> {
    this.ensureIdle(what);
    this.running = true;
    try {
      return await run();
    } finally {
      this.running = false;
    }
  }

  private ensureIdle(what: string): void {
    if (this.running) {
      throw new Error(`kiln.${what}: model '${this.name}' is busy (a fit, evaluate or predict is still running); await it before starting another`);
    }
  }

  get isRunning(): boolean {
    return this.running;
  }

  // ---- weights -----------------------------------------------------------

  /** Copies of every weight, keyed "layer/param" (kernel, bias, gamma, beta, moving_mean, moving_variance). */
  getWeights(): Map<string, Float32Array> {
    return new Map(this.entries.map((entry, i) => [entry.key, this.values[i].slice()]));
  }

  /** The live weight arrays (views into the plan once compiled): writes change the model. */
  weightViews(): Map<string, Float32Array> {
    return new Map(this.entries.map((entry, i) => [entry.key, this.values[i]]));
  }

  setWeights(weights: Map<string, Float32Array> | Record<string, Float32Array>): void {
    // Between steps (e.g. from a callback) is fine; during a native step it is not.
    if (this.plan?.busy()) throw new Error(`kiln.setWeights: model '${this.name}' is in the middle of a step; await it first`);
    const map = weights instanceof Map ? weights : new Map(Object.entries(weights));
    for (const [key, value] of map) {
      const index = this.entries.findIndex((entry) => entry.key === key);
      if (index < 0) throw new Error(`kiln.setWeights: model '${this.name}' has no weight '${key}' (it has ${this.entries.map((e) => e.key).join(', ')})`);
      if (!(value instanceof Float32Array) || value.length !== this.values[index].length) {
        throw new RangeError(`kiln.setWeights: weight '${key}' has shape ${formatShape(this.entries[index].shape)} (${this.values[index].length} values) but received ${value instanceof Float32Array ? value.length + ' values' : 'a non-Float32Array'}`);
      }
    }
    for (const [key, value] of map) this.values[this.entries.findIndex((entry) => entry.key === key)].set(value);
  }

  /** Gradients of the last computeGradients / training step, keyed like getWeights. */
  getGradients(): Map<string, Float32Array> {
    if (!this.plan) throw new Error('kiln.getGradients: no step has run yet');
    const grads = this.plan.gradients();
    const offsets = this.plan.paramOffsets();
    return new Map(this.entries.map((entry, i) => [entry.key, grads.slice(offsets[i], offsets[i] + this.values[i].length)]));
  }

  optimizerStateSnapshot(): { state: Float32Array; updates: number } | undefined {
    if (this.plan) return { state: this.plan.optimizerState().slice(), updates: this.plan.updateCount() };
    return this.savedOptimizerState;
  }

  restoreOptimizerState(state: Float32Array, updates: number): void {
    this.savedOptimizerState = { state: state.slice(), updates };
    if (this.plan) {
      const live = this.plan.optimizerState();
      if (live.length !== state.length) throw new RangeError(`kiln.loadModel: saved optimizer state has ${state.length} values, the model needs ${live.length}`);
      live.set(state);
      this.plan.setUpdateCount(updates);
      this.savedOptimizerState = undefined;
    }
  }

  // ---- running -----------------------------------------------------------

  samples(fn: string, data: TrainingData | unknown, needTargets: boolean): Samples {
    return toSamples(fn, data, this.inputShape, this.outputSize, needTargets);
  }

  fit(data: TrainingData, options: FitOptions = {}): Promise<History> {
    return this.exclusive('fit', () => runFit(this, data, options));
  }

  /** One optimizer step on one batch (for custom loops). */
  trainOnBatch(x: Tensor, y: Int32Array | number[] | Tensor): Promise<Logs> {
    return this.exclusive('trainOnBatch', async () => {
      const samples = this.samples('trainOnBatch', { x, y }, true);
      const plan = this.ensurePlan(samples.count);
      const lr = learningRateAt(this.compiled!.optimizer.learningRate, plan.updateCount());
      const result = await plan.trainStep(samples.images, samples.labels ?? null, samples.targets ?? null, samples.count, lr);
      return this.logsFor(result.loss, result.correct, samples.count, Boolean(samples.labels));
    });
  }

  /** Loss and gradients for one batch, without updating (gradient checks, custom optimizers). */
  computeGradients(x: Tensor, y: Int32Array | number[] | Tensor): Promise<number> {
    return this.exclusive('computeGradients', async () => {
      const samples = this.samples('computeGradients', { x, y }, true);
      const plan = this.ensurePlan(samples.count);
      const result = await plan.computeGradients(samples.images, samples.labels ?? null, samples.targets ?? null, samples.count);
      return result.loss;
    });
  }

  logsFor(loss: number, correct: number, count: number, hasLabels: boolean): Logs {
    const logs: Logs = { loss };
    if (hasLabels || this.compiled?.loss === 'softmaxCrossEntropy') logs.accuracy = correct / count;
    return logs;
  }

  /** Mean loss and accuracy over the data, in inference mode. */
  evaluate(data: TrainingData, options: { batchSize?: number } = {}): Promise<Logs> {
    return this.exclusive('evaluate', () => this.evaluateSamples(this.samples('evaluate', data, true), options.batchSize ?? 256));
  }

  async evaluateSamples(samples: Samples, batchSize: number): Promise<Logs> {
    const plan = this.inferencePlan(batchSize, samples.count);
    const chunk = Math.min(batchSize, this.planBatch);
    let lossSum = 0;
    let correct = 0;
    for (const batch of gatherBatches(samples, chunk)) {
      const result = await plan.evaluate(batch.images, batch.labels, batch.targets, batch.count);
      lossSum += result.loss * batch.count;
      correct += result.correct;
    }
    return this.logsFor(lossSum / samples.count, correct, samples.count, Boolean(samples.labels));
  }

  /** Outputs for x [N, ...inputShape] -> [N, outputs]; softmax applied when the model ends in softmax. */
  predict(x: Tensor, options: { batchSize?: number } = {}): Promise<Tensor> {
    return this.exclusive('predict', async () => {
      const samples = this.samples('predict', { x }, false);
      const batchSize = options.batchSize ?? 256;
      const plan = this.inferencePlan(batchSize, samples.count);
      const chunk = Math.min(batchSize, this.planBatch);
      const out = new Float32Array(samples.count * this.outputSize);
      let offset = 0;
      for (const batch of gatherBatches(samples, chunk)) {
        const view = out.subarray(offset * this.outputSize, (offset + batch.count) * this.outputSize);
        await plan.predict(batch.images, batch.count, view);
        offset += batch.count;
      }
      if (this.stripsSoftmax()) softmaxRows(out, this.outputSize);
      return new Tensor(out, [samples.count, this.outputSize]);
    });
  }

  /** Activations (feature maps) of the named layers for x, in inference mode. */
  activations(x: Tensor, layerNames: string[]): Promise<Map<string, Tensor>> {
    return this.exclusive('activations', async () => {
      const samples = this.samples('activations', { x }, false);
      const nodes = layerNames.map((name) => {
        const node = this.nodes.find((n) => n.layer.name === name);
        if (!node) throw new Error(`kiln.activations: model '${this.name}' has no layer '${name}' (layers: ${this.layers.map((l) => l.name).join(', ')})`);
        return node;
      });
      const plan = this.ensurePlan(samples.count, false);
      await plan.evaluate(samples.images, null, null, samples.count, true);
      const result = new Map<string, Tensor>();
      for (const node of nodes) {
        const buffer = this.planOutputBuffers.get(node.id);
        if (buffer === undefined) {
          const reader = this.nodes.find((n) => n.inputs.includes(node));
          throw new Error(`kiln.activations: layer '${node.layer.name}' is fused with '${reader?.layer.name}' in the compiled plan, so its own output is never stored; ask for '${reader?.layer.name}' instead`);
        }
        const data = new Float32Array(samples.count * shapeSize(node.shape));
        plan.readBuffer(buffer, data);
        result.set(node.layer.name, new Tensor(data, [samples.count, ...node.shape]));
      }
      return result;
    });
  }

  learningRateAt(step: number): number {
    return learningRateAt(this.compiled!.optimizer.learningRate, step);
  }

  async save(path: string, options: { includeOptimizer?: boolean } = {}): Promise<void> {
    const { saveModel } = await import('./serialization');
    await saveModel(this, path, options);
  }

  callbackTarget(): Model {
    return this;
  }
}

function softmaxRows(data: Float32Array, classes: number): void {
  for (let row = 0; row < data.length; row += classes) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, data[row + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const e = Math.exp(data[row + c] - max);
      data[row + c] = e;
      sum += e;
    }
    for (let c = 0; c < classes; c++) data[row + c] /= sum;
  }
}

/** A functional model from an input tensor to an output tensor. */
export function model(config: ModelConfig): Model {
  return new Model(config);
}

export type { Callback };
