// add (skip connections) and concatenate (along channels).
import { ActivationName, expectActivation, Layer, LayerConfig, Lowered, LoweringContext, Shape } from './layer';
import { formatShape, shapeSize } from '../validate';

export interface AddConfig extends LayerConfig {
  /** relu/sigmoid/tanh applied after the sum (ResNet's block-closing ReLU). */
  activation?: ActivationName;
}

export class Add extends Layer {
  readonly className = 'Add';
  readonly activation: ActivationName;
  constructor(config: AddConfig = {}) {
    super(config, 'add');
    this.activation = expectActivation(`add('${this.name}')`, config.activation);
    if (this.activation === 'softmax') throw new TypeError(`kiln.add('${this.name}'): softmax is not supported as an add activation; use an activation layer`);
  }
  computeOutputShape(inputShapes: Shape[]): Shape {
    if (inputShapes.length < 2) throw this.fail(`expected at least 2 inputs but received ${inputShapes.length}`);
    const first = inputShapes[0];
    for (const shape of inputShapes) {
      if (shape.length !== first.length || shape.some((d, i) => d !== first[i])) {
        throw this.fail(`all inputs must have the same shape, but received ${inputShapes.map(formatShape).join(' and ')}`);
      }
    }
    return first;
  }
  lower(context: LoweringContext, inputShapes: Shape[]): Lowered {
    const output = context.newBuffer(shapeSize(inputShapes[0]));
    return { ops: [{ type: 'add', name: this.name, inputs: [...context.inputBuffers], output, params: [], activation: this.activation as 'linear' }], output };
  }
  getConfig(): Record<string, unknown> {
    return { name: this.name, activation: this.activation };
  }
}

export class Concatenate extends Layer {
  readonly className = 'Concatenate';
  constructor(config: LayerConfig = {}) {
    super(config, 'concatenate');
  }
  computeOutputShape(inputShapes: Shape[]): Shape {
    if (inputShapes.length < 2) throw this.fail(`expected at least 2 inputs but received ${inputShapes.length}`);
    const first = inputShapes[0];
    for (const shape of inputShapes) {
      if (shape.length !== first.length || shape.slice(0, -1).some((d, i) => d !== first[i])) {
        throw this.fail(`inputs must match on every axis but the last, but received ${inputShapes.map(formatShape).join(' and ')}`);
      }
    }
    const channels = inputShapes.reduce((sum, shape) => sum + shape[shape.length - 1], 0);
    return [...first.slice(0, -1), channels];
  }
  lower(context: LoweringContext, inputShapes: Shape[], outputShape: Shape): Lowered {
    const concatChannels = inputShapes.map((shape) => shape[shape.length - 1]);
    const spatial = shapeSize(outputShape) / outputShape[outputShape.length - 1];
    const output = context.newBuffer(shapeSize(outputShape));
    return { ops: [{ type: 'concatenate', name: this.name, inputs: [...context.inputBuffers], output, params: [], spatial, concatChannels }], output };
  }
  getConfig(): Record<string, unknown> {
    return { name: this.name };
  }
}
