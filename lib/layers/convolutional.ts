// conv2d: NHWC input [H, W, C], kernel HWIO [kH, kW, C, filters].
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
} from './layer';
import { effectiveKernel, isPadding, outputSize, pair, Padding, resolvePads } from '../ops/padding';
import { formatShape } from '../validate';

export interface Conv2DConfig extends LayerConfig {
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: Padding;
  dilationRate?: number | [number, number];
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: InitializerName;
  biasInitializer?: InitializerName;
}

function expectPositivePair(layer: string, argument: string, value: unknown, fallback?: number): [number, number] {
  if (value === undefined && fallback !== undefined) return [fallback, fallback];
  const ok = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1;
  if (ok(value)) return pair(value as number);
  if (Array.isArray(value) && value.length === 2 && value.every(ok)) return pair(value as number[]);
  throw new TypeError(`kiln.${layer}: expected a positive integer or [h, w] for '${argument}' but received ${JSON.stringify(value)}`);
}

export class Conv2D extends Layer {
  readonly className = 'Conv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  readonly dilationRate: [number, number];
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: InitializerName;
  readonly biasInitializer: InitializerName;

  constructor(config: Conv2DConfig) {
    super(config, 'conv2d');
    const where = `conv2d('${this.name}')`;
    if (typeof config.filters !== 'number' || !Number.isInteger(config.filters) || config.filters < 1) {
      throw new TypeError(`kiln.${where}: expected a positive integer for 'filters' but received ${JSON.stringify(config.filters)}`);
    }
    this.filters = config.filters;
    this.kernelSize = expectPositivePair(where, 'kernelSize', config.kernelSize);
    this.strides = expectPositivePair(where, 'strides', config.strides, 1);
    this.dilationRate = expectPositivePair(where, 'dilationRate', config.dilationRate, 1);
    const padding = config.padding ?? 'valid';
    if (!isPadding(padding)) {
      throw new TypeError(`kiln.${where}: expected 'same', 'valid', a non-negative integer or [top, bottom, left, right] for 'padding' but received ${JSON.stringify(padding)}`);
    }
    this.padding = padding;
    this.activation = expectActivation(where, config.activation);
    this.useBias = config.useBias ?? true;
    this.kernelInitializer = expectInitializer(where, 'kernelInitializer', config.kernelInitializer, 'glorotUniform');
    this.biasInitializer = expectInitializer(where, 'biasInitializer', config.biasInitializer, 'zeros');
  }

  private geometry(inputShape: Shape) {
    const [inH, inW, inC] = inputShape;
    const [kernelH, kernelW] = this.kernelSize;
    const [strideH, strideW] = this.strides;
    const [dilationH, dilationW] = this.dilationRate;
    const [padTop, padBottom, padLeft, padRight] = resolvePads(this.padding, inH, inW, kernelH, kernelW, strideH, strideW, dilationH, dilationW);
    const outH = outputSize(inH, kernelH, strideH, padTop, padBottom, dilationH);
    const outW = outputSize(inW, kernelW, strideW, padLeft, padRight, dilationW);
    return { inH, inW, inC, outC: this.filters, kernelH, kernelW, strideH, strideW, padTop, padBottom, padLeft, padRight, dilationH, dilationW, outH, outW };
  }

  computeOutputShape(inputShapes: Shape[]): Shape {
    const shape = this.expectRank(inputShapes, 3, 'images [height, width, channels]');
    const g = this.geometry(shape);
    if (g.outH < 1 || g.outW < 1) {
      throw this.fail(
        `kernel ${g.kernelH}x${g.kernelW} (dilation ${g.dilationH}x${g.dilationW}) is larger than the padded input ${formatShape(shape)} ` +
          `with padding [${g.padTop}, ${g.padBottom}, ${g.padLeft}, ${g.padRight}]`,
      );
    }
    return [g.outH, g.outW, this.filters];
  }

  override paramDefs(inputShapes: Shape[]): ParamDef[] {
    const inC = inputShapes[0][2];
    const defs: ParamDef[] = [
      { name: 'kernel', shape: [this.kernelSize[0], this.kernelSize[1], inC, this.filters], initializer: this.kernelInitializer, trainable: true },
    ];
    if (this.useBias) defs.push({ name: 'bias', shape: [this.filters], initializer: this.biasInitializer, trainable: true });
    return defs;
  }

  override macs(inputShapes: Shape[], outputShape: Shape): number {
    return outputShape[0] * outputShape[1] * this.filters * this.kernelSize[0] * this.kernelSize[1] * inputShapes[0][2];
  }

  override receptiveField(inputs: ReceptiveField[]): ReceptiveField {
    const [rf] = inputs;
    return {
      size: [
        rf.size[0] + (effectiveKernel(this.kernelSize[0], this.dilationRate[0]) - 1) * rf.jump[0],
        rf.size[1] + (effectiveKernel(this.kernelSize[1], this.dilationRate[1]) - 1) * rf.jump[1],
      ],
      jump: [rf.jump[0] * this.strides[0], rf.jump[1] * this.strides[1]],
    };
  }

  override outputActivation(): string {
    return this.activation;
  }

  lower(context: LoweringContext, inputShapes: Shape[], outputShape: Shape): Lowered {
    const g = this.geometry(inputShapes[0]);
    const sampleSize = outputShape[0] * outputShape[1] * outputShape[2];
    const output = context.newBuffer(sampleSize);
    const activation = lowerActivation(this.activation, context, this.name, output, sampleSize, this.filters);
    const params = [context.param('kernel')];
    if (this.useBias) params.push(context.param('bias'));
    const { outH: _h, outW: _w, ...conv } = g;
    return {
      ops: [{ type: 'conv2d', name: this.name, inputs: [context.inputBuffers[0]], output, params, activation: activation.fused, conv }, ...activation.ops],
      output: activation.output,
    };
  }

  getConfig(): Record<string, unknown> {
    return {
      name: this.name,
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dilationRate: this.dilationRate,
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: this.kernelInitializer,
      biasInitializer: this.biasInitializer,
      ...(this.inputShape ? { inputShape: this.inputShape } : {}),
    };
  }
}
