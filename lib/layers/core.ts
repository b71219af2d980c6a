// input, dense, flatten, activation, dropout.
import { expectInitializer, InitializerName } from './initializers';
import {
  ActivationName,
  expectActivation,
  Layer,
  LayerConfig,
  Lowered,
  LoweringContext,
  lowerActivation,
  ParamDef,
  ReceptiveField,
  Shape,
  SymbolicTensor,
} from './layer';
import { formatShape, shapeSize } from '../validate';

export class InputLayer extends Layer {
  readonly className = 'InputLayer';
  readonly shape: Shape;

  constructor(config: { shape: number[]; name?: string }) {
    super({ name: config.name }, 'input');
    const shape = config.shape;
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new TypeError(`kiln.input('${this.name}'): expected a shape of positive integers (per sample, no batch axis) for 'shape' but received ${JSON.stringify(shape)}`);
    }
    this.shape = [...shape];
  }

  computeOutputShape(): Shape {
    return this.shape;
  }

  lower(context: LoweringContext): Lowered {
    return { ops: [], output: context.inputBuffers[0] };
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, shape: this.shape };
  }
}

/** A model input: the start of a functional graph. */
export function input(config: { shape: number[]; name?: string }): SymbolicTensor {
  const layer = new InputLayer(config);
  return new SymbolicTensor(layer, [], layer.shape);
}

export interface DenseConfig extends LayerConfig {
  units: number;
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: InitializerName;
  biasInitializer?: InitializerName;
}

export class Dense extends Layer {
  readonly className = 'Dense';
  readonly units: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: InitializerName;
  readonly biasInitializer: InitializerName;

  constructor(config: DenseConfig) {
    super(config, 'dense');
    const where = `dense('${this.name}')`;
    if (typeof config.units !== 'number' || !Number.isInteger(config.units) || config.units < 1) {
      throw new TypeError(`kiln.${where}: expected a positive integer for 'units' but received ${JSON.stringify(config.units)}`);
    }
    this.units = config.units;
    this.activation = expectActivation(where, config.activation);
    this.useBias = config.useBias ?? true;
    this.kernelInitializer = expectInitializer(where, 'kernelInitializer', config.kernelInitializer, 'glorotUniform');
    this.biasInitializer = expectInitializer(where, 'biasInitializer', config.biasInitializer, 'zeros');
  }

  computeOutputShape(inputShapes: Shape[]): Shape {
    if (inputShapes.length !== 1) throw this.fail(`expected 1 input but received ${inputShapes.length}`);
    if (inputShapes[0].length !== 1) {
      throw this.fail(`expected a flat input [features] but received shape ${formatShape(inputShapes[0])}; add a flatten() layer before it`);
    }
    return [this.units];
  }

  override paramDefs(inputShapes: Shape[]): ParamDef[] {
    const defs: ParamDef[] = [{ name: 'kernel', shape: [inputShapes[0][0], this.units], initializer: this.kernelInitializer, trainable: true }];
    if (this.useBias) defs.push({ name: 'bias', shape: [this.units], initializer: this.biasInitializer, trainable: true });
    return defs;
  }

  override macs(inputShapes: Shape[]): number {
    return inputShapes[0][0] * this.units;
  }

  override outputActivation(): string {
    return this.activation;
  }

  lower(context: LoweringContext, inputShapes: Shape[]): Lowered {
    const output = context.newBuffer(this.units);
    const activation = lowerActivation(this.activation, context, this.name, output, this.units, this.units);
    const params = [context.param('kernel')];
    if (this.useBias) params.push(context.param('bias'));
    return {
      ops: [
        { type: 'dense', name: this.name, inputs: [context.inputBuffers[0]], output, params, activation: activation.fused, inFeatures: inputShapes[0][0], units: this.units },
        ...activation.ops,
      ],
      output: activation.output,
    };
  }

  getConfig(): Record<string, unknown> {
    return {
      name: this.name,
      units: this.units,
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: this.kernelInitializer,
      biasInitializer: this.biasInitializer,
      ...(this.inputShape ? { inputShape: this.inputShape } : {}),
    };
  }
}

/** [H, W, C] -> [H*W*C]; NHWC data is already in that order, so no op runs. */
export class Flatten extends Layer {
  readonly className = 'Flatten';
  constructor(config: LayerConfig = {}) {
    super(config, 'flatten');
  }
  computeOutputShape(inputShapes: Shape[]): Shape {
    if (inputShapes.length !== 1) throw this.fail(`expected 1 input but received ${inputShapes.length}`);
    return [shapeSize(inputShapes[0])];
  }
  override receptiveField(inputs: ReceptiveField[], inputShapes: Shape[]): ReceptiveField {
    const [rf] = inputs;
    const shape = inputShapes[0];
    if (shape.length < 3) return rf;
    return { size: [rf.size[0] + (shape[0] - 1) * rf.jump[0], rf.size[1] + (shape[1] - 1) * rf.jump[1]], jump: [rf.jump[0] * shape[0], rf.jump[1] * shape[1]] };
  }
  lower(context: LoweringContext): Lowered {
    return { ops: [], output: context.inputBuffers[0] };
  }
  getConfig(): Record<string, unknown> {
    return { name: this.name, ...(this.inputShape ? { inputShape: this.inputShape } : {}) };
  }
}

export interface ActivationConfig extends LayerConfig {
  activation: ActivationName;
}

export class Activation extends Layer {
  readonly className = 'Activation';
  readonly activation: ActivationName;
  constructor(config: ActivationConfig) {
    super(config, 'activation');
    this.activation = expectActivation(`activation('${this.name}')`, config.activation);
  }
  computeOutputShape(inputShapes: Shape[]): Shape {
    if (inputShapes.length !== 1) throw this.fail(`expected 1 input but received ${inputShapes.length}`);
    return inputShapes[0];
  }
  override outputActivation(): string {
    return this.activation;
  }
  lower(context: LoweringContext, inputShapes: Shape[]): Lowered {
    const shape = inputShapes[0];
    const size = shapeSize(shape);
    const input = context.inputBuffers[0];
    if (this.activation === 'linear' || (this.activation === 'softmax' && context.stripActivation)) return { ops: [], output: input };
    const output = context.newBuffer(size);
    const type = this.activation === 'softmax' ? 'softmax' : 'activation';
    return {
      ops: [{ type, name: this.name, inputs: [input], output, params: [], activation: this.activation === 'softmax' ? undefined : this.activation, channels: shape[shape.length - 1] }],
      output,
    };
  }
  getConfig(): Record<string, unknown> {
    return { name: this.name, activation: this.activation, ...(this.inputShape ? { inputShape: this.inputShape } : {}) };
  }
}

export interface DropoutConfig extends LayerConfig {
  rate: number;
  seed?: number;
}

export class Dropout extends Layer {
  readonly className = 'Dropout';
  readonly rate: number;
  readonly seed?: number;
  constructor(config: DropoutConfig) {
    super(config, 'dropout');
    if (typeof config.rate !== 'number' || !(config.rate >= 0 && config.rate < 1)) {
      throw new TypeError(`kiln.dropout('${this.name}'): expected a number in [0, 1) for 'rate' but received ${JSON.stringify(config.rate)}`);
    }
    this.rate = config.rate;
    this.seed = config.seed;
  }
  computeOutputShape(inputShapes: Shape[]): Shape {
    if (inputShapes.length !== 1) throw this.fail(`expected 1 input but received ${inputShapes.length}`);
    return inputShapes[0];
  }
  lower(context: LoweringContext, inputShapes: Shape[]): Lowered {
    const output = context.newBuffer(shapeSize(inputShapes[0]));
    return {
      ops: [{ type: 'dropout', name: this.name, inputs: [context.inputBuffers[0]], output, params: [], rate: this.rate, seed: this.seed ?? context.seed }],
      output,
    };
  }
  getConfig(): Record<string, unknown> {
    return { name: this.name, rate: this.rate, ...(this.seed !== undefined ? { seed: this.seed } : {}), ...(this.inputShape ? { inputShape: this.inputShape } : {}) };
  }
}
