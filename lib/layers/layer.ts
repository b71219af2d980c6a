// The life of a layer (the tfjs-layers / Keras shape): constructor(config)
// validates options -> apply(symbolic inputs) infers and checks shapes, which
// builds a DAG of SymbolicTensors -> the model compiles that DAG into native
// plan ops. Shapes here are per sample (no batch axis): [H, W, C] or [features].
import type { InitializerName } from './initializers';
import type { PlanActivation, PlanOp } from '../model/plan-spec';
import { formatShape } from '../validate';

export type Shape = number[];

export interface ParamDef {
  /** Short name within the layer: kernel, bias, gamma, beta, moving_mean, moving_variance. */
  name: string;
  shape: number[];
  initializer: InitializerName;
  trainable: boolean;
}

/** Receptive field of a tensor in input pixels: window size and jump (stride product) per axis. */
export interface ReceptiveField {
  size: [number, number];
  jump: [number, number];
}

export class SymbolicTensor {
  private static nextId = 0;
  readonly id = SymbolicTensor.nextId++;
  constructor(
    readonly layer: Layer,
    readonly inputs: SymbolicTensor[],
    readonly shape: Shape,
  ) {}
  toString(): string {
    return `${this.layer.name} output ${formatShape(this.shape)}`;
  }
}

export interface LayerConfig {
  name?: string;
  /** Per-sample input shape for the first layer of a sequential model. */
  inputShape?: number[];
}

/** Context the model gives a layer when it lowers it to plan ops. */
export interface LoweringContext {
  inputBuffers: number[];
  /** Allocates a buffer of `sampleSize` elements per sample. */
  newBuffer(sampleSize: number): number;
  /** Global index of this layer's parameter `name`. */
  param(name: string): number;
  /** Deterministic per-layer seed (dropout). */
  seed: number;
  /** Activation to drop from the model's output layer (softmax fused into the loss). */
  stripActivation: boolean;
}

export interface Lowered {
  ops: PlanOp[];
  /** Buffer holding the layer's output (may alias an input, e.g. flatten). */
  output: number;
}

const nameCounters = new Map<string, number>();

export function uniqueName(prefix: string): string {
  const count = nameCounters.get(prefix) ?? 0;
  nameCounters.set(prefix, count + 1);
  return count === 0 ? prefix : `${prefix}_${count}`;
}

export abstract class Layer {
  readonly name: string;
  readonly inputShape?: number[];
  abstract readonly className: string;

  constructor(config: LayerConfig, prefix: string) {
    if (config.name !== undefined && (typeof config.name !== 'string' || config.name.length === 0)) {
      throw new TypeError(`kiln.${prefix}: expected a non-empty string for 'name' but received ${String(config.name)}`);
    }
    this.name = config.name ?? uniqueName(prefix);
    if (config.inputShape !== undefined) this.inputShape = [...config.inputShape];
  }

  /** Connects the layer to its inputs, checking shapes; returns its output tensor. */
  apply(inputs: SymbolicTensor | SymbolicTensor[]): SymbolicTensor {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    for (const input of list) {
      if (!(input instanceof SymbolicTensor)) {
        throw new TypeError(`kiln.${this.className}: layer '${this.name}' expected a symbolic tensor (from input() or another layer) as input`);
      }
    }
    const shape = this.computeOutputShape(list.map((input) => input.shape));
    return new SymbolicTensor(this, list, shape);
  }

  /** Output shape for these input shapes; throws an error naming the layer if they do not fit. */
  abstract computeOutputShape(inputShapes: Shape[]): Shape;

  paramDefs(_inputShapes: Shape[]): ParamDef[] {
    return [];
  }

  /** Multiply-accumulates per sample. */
  macs(_inputShapes: Shape[], _outputShape: Shape): number {
    return 0;
  }

  /** Receptive field of the output, given those of the inputs. */
  receptiveField(inputs: ReceptiveField[], _inputShapes: Shape[]): ReceptiveField {
    const first = inputs[0];
    return {
      size: [Math.max(...inputs.map((r) => r.size[0])), Math.max(...inputs.map((r) => r.size[1]))],
      jump: [first.jump[0], first.jump[1]],
    };
  }

  abstract lower(context: LoweringContext, inputShapes: Shape[], outputShape: Shape): Lowered;

  /** The options that rebuild this layer (saved in model.json). */
  abstract getConfig(): Record<string, unknown>;

  /** The layer's activation, when it has one the loss may absorb (softmax). */
  outputActivation(): string | undefined {
    return undefined;
  }

  protected fail(message: string): Error {
    return new Error(`kiln.${this.className}: layer '${this.name}': ${message}`);
  }

  protected expectRank(inputShapes: Shape[], rank: number, what: string): Shape {
    if (inputShapes.length !== 1) throw this.fail(`expected 1 input but received ${inputShapes.length}`);
    const shape = inputShapes[0];
    if (shape.length !== rank) {
      throw this.fail(`expected an input of ${what} (rank ${rank} per sample) but received shape ${formatShape(shape)}`);
    }
    return shape;
  }
}

export type ActivationName = 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'softmax';
export const activationNames: readonly ActivationName[] = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'];

export function expectActivation(layer: string, value: unknown): ActivationName {
  if (value === undefined || value === null) return 'linear';
  if (typeof value !== 'string' || !activationNames.includes(value as ActivationName)) {
    throw new TypeError(
      `kiln.${layer}: expected one of ${activationNames.join(', ')} for 'activation' but received ${JSON.stringify(value)}`,
    );
  }
  return value as ActivationName;
}

/**
 * Ops for an activation applied to `buffer`: relu/sigmoid/tanh fuse into the
 * producing op (returned as `fused`); softmax becomes its own op.
 */
export function lowerActivation(
  activation: ActivationName,
  context: LoweringContext,
  name: string,
  buffer: number,
  sampleSize: number,
  channels: number,
): { fused: PlanActivation; ops: PlanOp[]; output: number } {
  if (activation === 'softmax') {
    if (context.stripActivation) return { fused: 'linear', ops: [], output: buffer };
    const output = context.newBuffer(sampleSize);
    return { fused: 'linear', ops: [{ type: 'softmax', name: `${name}/softmax`, inputs: [buffer], output, params: [], channels }], output };
  }
  return { fused: activation, ops: [], output: buffer };
}
