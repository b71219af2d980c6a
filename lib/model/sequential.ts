// sequential(): a model whose layers each take the previous one's output.
import { input } from '../layers/core';
import { Layer, SymbolicTensor } from '../layers/layer';
import { Model } from './model';

export interface SequentialOptions {
  /** Per-sample input shape; or give the first layer an inputShape. */
  inputShape?: number[];
  name?: string;
  seed?: number;
}

export function sequential(layers: Array<Layer | SymbolicTensor>, options: SequentialOptions = {}): Model {
  if (!Array.isArray(layers) || layers.length === 0) throw new TypeError('kiln.sequential: expected a non-empty array of layers');
  let rest = layers;
  let start: SymbolicTensor;
  if (layers[0] instanceof SymbolicTensor) {
    start = layers[0];
    rest = layers.slice(1);
  } else {
    const shape = options.inputShape ?? (layers[0] as Layer).inputShape;
    if (!shape) {
      throw new TypeError(`kiln.sequential: the input shape is unknown; pass { inputShape: [H, W, C] }, give the first layer an inputShape, or start with input({ shape })`);
    }
    start = input({ shape, name: 'input' });
  }
  let current = start;
  for (const [index, layer] of rest.entries()) {
    if (!(layer instanceof Layer)) throw new TypeError(`kiln.sequential: element ${index} is not a layer`);
    current = layer.apply(current);
  }
  if (current === start) throw new TypeError('kiln.sequential: the model has no layers after its input');
  return new Model({ inputs: start, outputs: current, name: options.name ?? 'sequential', seed: options.seed });
}
