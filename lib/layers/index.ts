// Factory functions with Keras / TF.js names: each returns a layer instance.
import { Conv2D, Conv2DConfig } from './convolutional';
import { Activation, ActivationConfig, Dense, DenseConfig, Dropout, DropoutConfig, Flatten, input, InputLayer } from './core';
import { Add, AddConfig, Concatenate } from './merge';
import { BatchNormalization, BatchNormalizationConfig } from './normalization';
import { AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D, Pooling2DConfig } from './pooling';
import { Layer, LayerConfig } from './layer';

export { Layer, SymbolicTensor } from './layer';
export type { Shape, ParamDef, ReceptiveField, ActivationName, LayerConfig } from './layer';
export { Conv2D, Dense, Flatten, Activation, Dropout, InputLayer, Add, Concatenate, BatchNormalization, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D };
export type { Conv2DConfig, DenseConfig, ActivationConfig, DropoutConfig, AddConfig, BatchNormalizationConfig, Pooling2DConfig };
export { input };

export const conv2d = (config: Conv2DConfig) => new Conv2D(config);
export const dense = (config: DenseConfig) => new Dense(config);
export const flatten = (config: LayerConfig = {}) => new Flatten(config);
export const activation = (config: ActivationConfig) => new Activation(config);
export const dropout = (config: DropoutConfig) => new Dropout(config);
export const batchNormalization = (config: BatchNormalizationConfig = {}) => new BatchNormalization(config);
export const maxPooling2d = (config: Pooling2DConfig = {}) => new MaxPooling2D(config);
export const averagePooling2d = (config: Pooling2DConfig = {}) => new AveragePooling2D(config);
export const globalAveragePooling2d = (config: LayerConfig = {}) => new GlobalAveragePooling2D(config);
export const add = (config: AddConfig = {}) => new Add(config);
export const concatenate = (config: LayerConfig = {}) => new Concatenate(config);

/** Rebuilds a layer from its saved class name and config (model loading). */
export function layerFromConfig(className: string, config: Record<string, unknown>): Layer {
  const makers: Record<string, (c: never) => Layer> = {
    Conv2D: (c) => new Conv2D(c),
    Dense: (c) => new Dense(c),
    Flatten: (c) => new Flatten(c),
    Activation: (c) => new Activation(c),
    Dropout: (c) => new Dropout(c),
    BatchNormalization: (c) => new BatchNormalization(c),
    MaxPooling2D: (c) => new MaxPooling2D(c),
    AveragePooling2D: (c) => new AveragePooling2D(c),
    GlobalAveragePooling2D: (c) => new GlobalAveragePooling2D(c),
    Add: (c) => new Add(c),
    Concatenate: (c) => new Concatenate(c),
    InputLayer: (c) => new InputLayer(c),
  };
  const make = makers[className];
  if (!make) throw new Error(`kiln.loadModel: unknown layer class '${className}' (known: ${Object.keys(makers).join(', ')})`);
  return make(config as never);
}
