// batchNormalization over the last (channel) axis, Keras semantics:
// moving = momentum * moving + (1 - momentum) * batch statistic.
import { Layer, LayerConfig, Lowered, LoweringContext, ParamDef, Shape } from './layer';
import { shapeSize } from '../validate';

export interface BatchNormalizationConfig extends LayerConfig {
  momentum?: number;
  epsilon?: number;
}

export class BatchNormalization extends Layer {
  readonly className = 'BatchNormalization';
  readonly momentum: number;
  readonly epsilon: number;

  constructor(config: BatchNormalizationConfig = {}) {
    super(config, 'batch_normalization');
    const where = `batchNormalization('${this.name}')`;
    this.momentum = config.momentum ?? 0.99;
    this.epsilon = config.epsilon ?? 1e-3;
    if (typeof this.momentum !== 'number' || !(this.momentum >= 0 && this.momentum < 1)) {
      throw new TypeError(`kiln.${where}: expected a number in [0, 1) for 'momentum' but received ${JSON.stringify(config.momentum)}`);
    }
    if (typeof this.epsilon !== 'number' || !(this.epsilon > 0)) {
      throw new TypeError(`kiln.${where}: expected a positive number for 'epsilon' but received ${JSON.stringify(config.epsilon)}`);
    }
  }

  computeOutputShape(inputShapes: Shape[]): Shape {
    if (inputShapes.length !== 1) throw this.fail(`expected 1 input but received ${inputShapes.length}`);
    return inputShapes[0];
  }

  override paramDefs(inputShapes: Shape[]): ParamDef[] {
    const shape = inputShapes[0];
    const channels = [shape[shape.length - 1]];
    return [
      { name: 'gamma', shape: channels, initializer: 'ones', trainable: true },
      { name: 'beta', shape: channels, initializer: 'zeros', trainable: true },
      { name: 'moving_mean', shape: channels, initializer: 'zeros', trainable: false },
      { name: 'moving_variance', shape: channels, initializer: 'ones', trainable: false },
    ];
  }

  lower(context: LoweringContext, inputShapes: Shape[]): Lowered {
    const shape = inputShapes[0];
    const size = shapeSize(shape);
    const channels = shape[shape.length - 1];
    const output = context.newBuffer(size);
    const params = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((name) => context.param(name));
    return {
      ops: [{ type: 'batchNorm', name: this.name, inputs: [context.inputBuffers[0]], output, params, channels, spatial: size / channels, epsilon: this.epsilon, momentum: 1 - this.momentum }],
      output,
    };
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, momentum: this.momentum, epsilon: this.epsilon, ...(this.inputShape ? { inputShape: this.inputShape } : {}) };
  }
}
