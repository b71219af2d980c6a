// An in-memory labelled image set, channels-last like the rest of kiln, with
// the helpers a training loop needs: seeded splits, subsets and batches.
import { createRandom, deriveSeed } from './random';

export interface Dataset {
  /** count * H * W * C values, NHWC, in [0, 1] for the built-in loaders. */
  images: Float32Array;
  /** count class indices in [0, classes). */
  labels: Int32Array;
  /** [H, W, C] of one image. */
  shape: [number, number, number];
  classes: number;
  count: number;
  name: string;
}

export interface DatasetParts {
  images: Float32Array;
  labels: Int32Array;
  shape: readonly [number, number, number] | readonly number[];
  classes: number;
  name: string;
}

function fail(fn: string, argument: string, expected: string, received: string): never {
  throw new RangeError(`kiln.${fn}: expected ${expected} for '${argument}' but received ${received}`);
}

function checkInteger(fn: string, argument: string, value: unknown, minimum: number, maximum: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum || value > maximum) {
    fail(fn, argument, `an integer in [${minimum}, ${maximum}]`, String(value));
  }
  return value;
}

/** Builds a Dataset after checking that the arrays agree with the shape and every label is a class. */
export function createDataset(parts: DatasetParts): Dataset {
  const fn = 'createDataset';
  const { images, labels, shape, classes, name } = parts;
  if (!(images instanceof Float32Array)) fail(fn, 'images', 'a Float32Array', typeof images);
  if (!(labels instanceof Int32Array)) fail(fn, 'labels', 'an Int32Array', typeof labels);
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    fail(fn, 'shape', '[H, W, C] of positive integers', JSON.stringify(shape));
  }
  checkInteger(fn, 'classes', classes, 1, 2 ** 31 - 1);
  const imageSize = shape[0] * shape[1] * shape[2];
  if (images.length !== labels.length * imageSize) {
    fail(fn, 'images', `${labels.length} images of ${imageSize} values (${labels.length * imageSize})`, `${images.length} values`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0 || labels[i] >= classes) fail(fn, 'labels', `labels in [0, ${classes - 1}]`, `${labels[i]} at index ${i}`);
  }
  return { images, labels, shape: [shape[0], shape[1], shape[2]], classes, count: labels.length, name: String(name) };
}

/** Values in one image (H * W * C). */
export function imageSize(dataset: Dataset): number {
  return dataset.shape[0] * dataset.shape[1] * dataset.shape[2];
}

/** A random permutation of 0..count-1 (Fisher-Yates), the same for the same seed. */
export function shuffledIndices(count: number, seed: number): Int32Array {
  checkInteger('shuffledIndices', 'count', count, 0, 2 ** 31 - 1);
  const indices = new Int32Array(count);
  for (let i = 0; i < count; i++) indices[i] = i;
  const random = createRandom(seed);
  for (let i = count - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    const swap = indices[i];
    indices[i] = indices[j];
    indices[j] = swap;
  }
  return indices;
}

/** A copy of the given images, in the given order (indices may repeat). */
export function subset(dataset: Dataset, indices: ArrayLike<number>, name = `${dataset.name} (subset)`): Dataset {
  const size = imageSize(dataset);
  const images = new Float32Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i];
    if (!Number.isInteger(index) || index < 0 || index >= dataset.count) {
      fail('subset', 'indices', `indices in [0, ${dataset.count - 1}]`, `${index} at position ${i}`);
    }
    images.set(dataset.images.subarray(index * size, (index + 1) * size), i * size);
    labels[i] = dataset.labels[index];
  }
  return { images, labels, shape: [...dataset.shape], classes: dataset.classes, count: indices.length, name };
}

/**
 * Splits into disjoint train and test sets by a seeded shuffle: the first
 * trainCount shuffled images train, the rest test. Not stratified.
 */
export function splitDataset(dataset: Dataset, trainCount: number, seed: number): { train: Dataset; test: Dataset } {
  checkInteger('splitDataset', 'trainCount', trainCount, 0, dataset.count);
  const order = shuffledIndices(dataset.count, seed);
  return {
    train: subset(dataset, order.subarray(0, trainCount), `${dataset.name} (train)`),
    test: subset(dataset, order.subarray(trainCount), `${dataset.name} (test)`),
  };
}

export interface BatchOptions {
  /** Visit the images in a seeded random order (default false: dataset order). */
  shuffle?: boolean;
  /** With shuffle: the seed (default 0). Seed and epoch together fix the order. */
  seed?: number;
  /** With shuffle: the epoch number, so every epoch gets its own order (default 0). */
  epoch?: number;
  /** Skip the last batch when it would hold fewer than batchSize images (default false). */
  dropRemainder?: boolean;
}

export interface Batch {
  /** count images, NHWC; a view of a buffer the iterator reuses. */
  images: Float32Array;
  /** count labels; a view of a buffer the iterator reuses. */
  labels: Int32Array;
  count: number;
  /** 0-based position of this batch in the epoch. */
  index: number;
}

export interface BatchIterable extends Iterable<Batch> {
  batchSize: number;
  /** Batches per pass. */
  batchCount: number;
}

/**
 * One epoch of batches. The images and labels are copied into two buffers
 * allocated once per call of batches() and reused for every batch, so a
 * yielded batch is valid only until the next one is requested; copy it to keep
 * it. The last batch may be smaller (its arrays then have exactly count
 * entries) unless dropRemainder is set. Iterating the result again replays the
 * same order.
 */
export function batches(dataset: Dataset, batchSize: number, options: BatchOptions = {}): BatchIterable {
  const fn = 'batches';
  checkInteger(fn, 'batchSize', batchSize, 1, 2 ** 31 - 1);
  const { shuffle = false, seed = 0, epoch = 0, dropRemainder = false } = options;
  if (typeof shuffle !== 'boolean') fail(fn, 'options.shuffle', 'a boolean', String(shuffle));
  if (typeof dropRemainder !== 'boolean') fail(fn, 'options.dropRemainder', 'a boolean', String(dropRemainder));
  checkInteger(fn, 'options.seed', seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  checkInteger(fn, 'options.epoch', epoch, 0, Number.MAX_SAFE_INTEGER);

  const count = dataset.count;
  const size = imageSize(dataset);
  const fullBatches = Math.floor(count / batchSize);
  const remainder = count - fullBatches * batchSize;
  const batchCount = fullBatches + (remainder > 0 && !dropRemainder ? 1 : 0);
  const capacity = Math.min(batchSize, count);
  const imageBuffer = new Float32Array(capacity * size);
  const labelBuffer = new Int32Array(capacity);
  // Views for the short last batch, made once.
  const tailImages = imageBuffer.subarray(0, remainder * size);
  const tailLabels = labelBuffer.subarray(0, remainder);
  const order = shuffle ? shuffledIndices(count, deriveSeed(seed, epoch)) : undefined;
  const source = dataset.images;

  function* iterate(): Generator<Batch> {
    for (let batch = 0; batch < batchCount; batch++) {
      const start = batch * batchSize;
      const batchLength = Math.min(batchSize, count - start);
      for (let slot = 0; slot < batchLength; slot++) {
        const index = order ? order[start + slot] : start + slot;
        const from = index * size;
        const to = slot * size;
        for (let k = 0; k < size; k++) imageBuffer[to + k] = source[from + k];
        labelBuffer[slot] = dataset.labels[index];
      }
      const full = batchLength === capacity;
      yield {
        images: full ? imageBuffer : tailImages,
        labels: full ? labelBuffer : tailLabels,
        count: batchLength,
        index: batch,
      };
    }
  }

  return { batchSize, batchCount, [Symbol.iterator]: iterate };
}
