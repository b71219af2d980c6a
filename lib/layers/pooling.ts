// maxPooling2d / averagePooling2d over [H, W, C]; globalAveragePooling2d -> [C].
// Padding never wins a max and is excluded from an average's count.
import { Layer, LayerConfig, Lowered, LoweringContext, ReceptiveField, Shape } from './layer';
import { isPadding, outputSize, pair, Padding, resolvePads } from '../ops/padding';
import { formatShape } from '../validate';

export interface Pooling2DConfig extends LayerConfig {
  poolSize?: number | [number, number];
  /** Defaults to poolSize, as in Keras. */
  strides?: number | [number, number];
  padding?: Padding;
}

function positivePair(where: string, argument: string, value: unknown): [number, number] {
  const ok = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1;
  if (ok(value)) return pair(value as number);
  if (Array.isArray(value) && value.length === 2 && value.every(ok)) return pair(value as number[]);
  throw new TypeError(`kiln.${where}: expected a positive integer or [h, w] for '${argument}' but received ${JSON.stringify(value)}`);
}

abstract class Pooling2D extends Layer {
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  protected abstract readonly opType: 'maxPool2d' | 'avgPool2d';

  constructor(config: Pooling2DConfig, prefix: string) {
    super(config, prefix);
    const where = `${prefix}('${this.name}')`;
    this.poolSize = positivePair(where, 'poolSize', config.poolSize ?? 2);
    this.strides = config.strides === undefined ? this.poolSize : positivePair(where, 'strides', config.strides);
    const padding = config.padding ?? 'valid';
    if (!isPadding(padding)) {
      throw new TypeError(`kiln.${where}: expected 'same', 'valid', a non-negative integer or [top, bottom, left, right] for 'padding' but received ${JSON.stringify(padding)}`);
    }
    this.padding = padding;
  }

  private geometry(shape: Shape) {
    const [inH, inW, channels] = shape;
    const [windowH, windowW] = this.poolSize;
    const [strideH, strideW] = this.strides;
    const [padTop, padBottom, padLeft, padRight] = resolvePads(this.padding, inH, inW, windowH, windowW, strideH, strideW);
    return {
      inH, inW, channels, windowH, windowW, strideH, strideW, padTop, padBottom, padLeft, padRight,
      outH: outputSize(inH, windowH, strideH, padTop, padBottom),
      outW: outputSize(inW, windowW, strideW, padLeft, padRight),
    };
  }

  computeOutputShape(inputShapes: Shape[]): Shape {
    const shape = this.expectRank(inputShapes, 3, 'images [height, width, channels]');
    const g = this.geometry(shape);
    if (g.outH < 1 || g.outW < 1) {
      throw this.fail(`pool window ${g.windowH}x${g.windowW} is larger than the padded input ${formatShape(shape)}`);
    }
    if (g.padTop >= g.windowH || g.padBottom >= g.windowH || g.padLeft >= g.windowW || g.padRight >= g.windowW) {
      throw this.fail(`padding [${g.padTop}, ${g.padBottom}, ${g.padLeft}, ${g.padRight}] must be smaller than the pool window ${g.windowH}x${g.windowW}`);
    }
    return [g.outH, g.outW, g.channels];
  }

  override receptiveField(inputs: ReceptiveField[]): ReceptiveField {
    const [rf] = inputs;
    return {
      size: [rf.size[0] + (this.poolSize[0] - 1) * rf.jump[0], rf.size[1] + (this.poolSize[1] - 1) * rf.jump[1]],
      jump: [rf.jump[0] * this.strides[0], rf.jump[1] * this.strides[1]],
    };
  }

  lower(context: LoweringContext, inputShapes: Shape[], outputShape: Shape): Lowered {
    const { outH: _h, outW: _w, ...pool } = this.geometry(inputShapes[0]);
    const output = context.newBuffer(outputShape[0] * outputShape[1] * outputShape[2]);
    return { ops: [{ type: this.opType, name: this.name, inputs: [context.inputBuffers[0]], output, params: [], pool }], output };
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, poolSize: this.poolSize, strides: this.strides, padding: this.padding, ...(this.inputShape ? { inputShape: this.inputShape } : {}) };
  }
}

export class MaxPooling2D extends Pooling2D {
  readonly className = 'MaxPooling2D';
  protected readonly opType = 'maxPool2d';
  constructor(config: Pooling2DConfig = {}) {
    super(config, 'max_pooling2d');
  }
}

export class AveragePooling2D extends Pooling2D {
  readonly className = 'AveragePooling2D';
  protected readonly opType = 'avgPool2d';
  constructor(config: Pooling2DConfig = {}) {
    super(config, 'average_pooling2d');
  }
}

export class GlobalAveragePooling2D extends Layer {
  readonly className = 'GlobalAveragePooling2D';
  constructor(config: LayerConfig = {}) {
    super(config, 'global_average_pooling2d');
  }

  computeOutputShape(inputShapes: Shape[]): Shape {
    const shape = this.expectRank(inputShapes, 3, 'images [height, width, channels]');
    return [shape[2]];
  }

  override receptiveField(inputs: ReceptiveField[], inputShapes: Shape[]): ReceptiveField {
    const [rf] = inputs;
    const [h, w] = inputShapes[0];
    return { size: [rf.size[0] + (h - 1) * rf.jump[0], rf.size[1] + (w - 1) * rf.jump[1]], jump: [rf.jump[0] * h, rf.jump[1] * w] };
  }

  lower(context: LoweringContext, inputShapes: Shape[]): Lowered {
    const [h, w, c] = inputShapes[0];
    const output = context.newBuffer(c);
    return { ops: [{ type: 'globalAvgPool2d', name: this.name, inputs: [context.inputBuffers[0]], output, params: [], spatial: h * w, channels: c }], output };
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, ...(this.inputShape ? { inputShape: this.inputShape } : {}) };
  }
}
