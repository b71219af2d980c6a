// The reference models of WORKLOADS.md, exactly: lenet5, alexnet-s, resnet20.
import * as L from '../layers';
import { Model } from './model';
import { sequential } from './sequential';

export interface ZooOptions {
  seed?: number;
  /** Number of classes (10 for all reference datasets). */
  classes?: number;
}

/** LeNet-5 for 28x28x1: 61,706 parameters with 10 classes. */
export function lenet5(options: ZooOptions & { inputShape?: number[] } = {}): Model {
  return sequential(
    [
      L.conv2d({ name: 'conv1', filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: 'heUniform' }),
      L.maxPooling2d({ name: 'pool1', poolSize: 2, strides: 2 }),
      L.conv2d({ name: 'conv2', filters: 16, kernelSize: 5, padding: 'valid', activation: 'relu', kernelInitializer: 'heUniform' }),
      L.maxPooling2d({ name: 'pool2', poolSize: 2, strides: 2 }),
      L.flatten({ name: 'flatten' }),
      L.dense({ name: 'fc1', units: 120, activation: 'relu', kernelInitializer: 'heUniform' }),
      L.dense({ name: 'fc2', units: 84, activation: 'relu', kernelInitializer: 'heUniform' }),
      L.dense({ name: 'fc3', units: options.classes ?? 10 }),
    ],
    { inputShape: options.inputShape ?? [28, 28, 1], name: 'lenet5', seed: options.seed },
  );
}

/** AlexNet-style network for 32x32x3 (alexnet-s). */
export function alexnetS(options: ZooOptions & { inputShape?: number[] } = {}): Model {
  const conv = (name: string, filters: number, kernelSize: number, padding: number) =>
    L.conv2d({ name, filters, kernelSize, padding, activation: 'relu', kernelInitializer: 'heUniform' });
  return sequential(
    [
      conv('conv1', 64, 5, 2),
      L.maxPooling2d({ name: 'pool1', poolSize: 3, strides: 2 }),
      conv('conv2', 192, 5, 2),
      L.maxPooling2d({ name: 'pool2', poolSize: 3, strides: 2 }),
      conv('conv3', 384, 3, 1),
      conv('conv4', 256, 3, 1),
      conv('conv5', 256, 3, 1),
      L.maxPooling2d({ name: 'pool3', poolSize: 3, strides: 2 }),
      L.flatten({ name: 'flatten' }),
      L.dropout({ name: 'dropout1', rate: 0.5 }),
      L.dense({ name: 'fc1', units: 1024, activation: 'relu', kernelInitializer: 'heUniform' }),
      L.dropout({ name: 'dropout2', rate: 0.5 }),
      L.dense({ name: 'fc2', units: 1024, activation: 'relu', kernelInitializer: 'heUniform' }),
      L.dense({ name: 'fc3', units: options.classes ?? 10 }),
    ],
    { inputShape: options.inputShape ?? [32, 32, 3], name: 'alexnet-s', seed: options.seed },
  );
}

/**
 * ResNet-20 (He et al. 2016, CIFAR variant): a 3x3 stem, 3 stages of 3 basic
 * blocks with 16/32/64 channels (stride 2 at the start of stages 2 and 3),
 * 1x1-projection shortcuts where the shape changes ("option B"), global
 * average pooling and a dense classifier.
 */
export function resnet20(options: ZooOptions & { inputShape?: number[] } = {}): Model {
  const inputShape = options.inputShape ?? [32, 32, 3];
  const x0 = L.input({ shape: inputShape, name: 'input' });
  const conv = (name: string, filters: number, kernelSize: number, strides: number) =>
    L.conv2d({ name, filters, kernelSize, strides, padding: kernelSize === 1 ? 0 : 1, useBias: false, kernelInitializer: 'heNormal' });
  const bn = (name: string) => L.batchNormalization({ name, momentum: 0.9, epsilon: 1e-5 });

  let x = conv('stem_conv', 16, 3, 1).apply(x0);
  x = bn('stem_bn').apply(x);
  x = L.activation({ name: 'stem_relu', activation: 'relu' }).apply(x);
  const stages = [16, 32, 64];
  stages.forEach((filters, stage) => {
    for (let block = 0; block < 3; block++) {
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const prefix = `stage${stage + 1}_block${block + 1}`;
      let y = conv(`${prefix}_conv1`, filters, 3, stride).apply(x);
      y = bn(`${prefix}_bn1`).apply(y);
      y = L.activation({ name: `${prefix}_relu1`, activation: 'relu' }).apply(y);
      y = conv(`${prefix}_conv2`, filters, 3, 1).apply(y);
      y = bn(`${prefix}_bn2`).apply(y);
      let shortcut = x;
      if (stride !== 1 || x.shape[2] !== filters) {
        shortcut = conv(`${prefix}_projection`, filters, 1, stride).apply(x);
        shortcut = bn(`${prefix}_projection_bn`).apply(shortcut);
      }
      x = L.add({ name: `${prefix}_add`, activation: 'relu' }).apply([y, shortcut]);
    }
  });
  x = L.globalAveragePooling2d({ name: 'global_pool' }).apply(x);
  const logits = L.dense({ name: 'fc', units: options.classes ?? 10 }).apply(x);
  return new Model({ inputs: x0, outputs: logits, name: 'resnet20', seed: options.seed });
}

export const zoo: Record<string, (options?: ZooOptions & { inputShape?: number[] }) => Model> = {
  lenet5,
  'alexnet-s': alexnetS,
  resnet20,
};
