// What fit / evaluate / predict accept, normalised to flat arrays, and the
// batch gatherer that copies samples into two reusable buffers.
import { Tensor } from '../tensor';
import { formatShape, shapeSize } from '../validate';

/** A labelled dataset: images NHWC (count * H * W * C) and integer labels. */
export interface LabelledData {
  images: Float32Array;
  labels: Int32Array;
  count?: number;
  shape?: number[];
}

/** Tensors: x [N, ...sampleShape], y integer labels [N] or targets [N, outputs]. */
export interface TensorData {
  x: Tensor;
  y?: Int32Array | number[] | Tensor;
}

export type TrainingData = LabelledData | TensorData;

export interface Samples {
  images: Float32Array;
  labels?: Int32Array;
  targets?: Float32Array;
  count: number;
  sampleSize: number;
  targetSize: number;
}

export function toSamples(fn: string, data: unknown, sampleShape: number[], outputSize: number, needTargets: boolean): Samples {
  const sampleSize = shapeSize(sampleShape);
  if (!data || typeof data !== 'object') {
    throw new TypeError(`kiln.${fn}: expected a dataset {images, labels} or {x, y} for 'data' but received ${String(data)}`);
  }
  let images: Float32Array;
  let count: number;
  let y: unknown;
  if ('x' in data) {
    const x = (data as TensorData).x;
    if (!(x instanceof Tensor)) throw new TypeError(`kiln.${fn}: expected a Tensor for 'x'`);
    const expected = [x.shape[0], ...sampleShape];
    if (x.rank !== expected.length || x.shape.slice(1).some((d, i) => d !== sampleShape[i])) {
      throw new RangeError(`kiln.${fn}: expected x of shape ${formatShape(['N', ...sampleShape] as never)} (the model's input) but received ${formatShape(x.shape)}`);
    }
    images = x.data;
    count = x.shape[0];
    y = (data as TensorData).y;
  } else if ('images' in data) {
    const d = data as LabelledData;
    if (!(d.images instanceof Float32Array)) throw new TypeError(`kiln.${fn}: expected a Float32Array for 'images'`);
    if (d.shape && (d.shape.length !== sampleShape.length || d.shape.some((v, i) => v !== sampleShape[i]))) {
      throw new RangeError(`kiln.${fn}: the data's sample shape ${formatShape(d.shape)} differs from the model's input ${formatShape(sampleShape)}`);
    }
    if (d.images.length % sampleSize !== 0) {
      throw new RangeError(`kiln.${fn}: images hold ${d.images.length} values, not a multiple of the model's input size ${sampleSize} ${formatShape(sampleShape)}`);
    }
    images = d.images;
    count = d.count ?? d.images.length / sampleSize;
    y = d.labels;
  } else {
    throw new TypeError(`kiln.${fn}: expected a dataset {images, labels} or {x, y} for 'data'`);
  }
  if (images.length < count * sampleSize) throw new RangeError(`kiln.${fn}: images hold fewer than count * ${sampleSize} values`);
  if (count < 1) throw new RangeError(`kiln.${fn}: the data holds no samples`);
  const samples: Samples = { images, count, sampleSize, targetSize: outputSize };
  if (y === undefined || y === null) {
    if (needTargets) throw new TypeError(`kiln.${fn}: the data has no labels or targets`);
    return samples;
  }
  if (y instanceof Tensor) {
    if (y.size !== count * outputSize) {
      throw new RangeError(`kiln.${fn}: expected targets of shape [${count}, ${outputSize}] but received ${formatShape(y.shape)}`);
    }
    samples.targets = y.data;
    return samples;
  }
  const labels = y instanceof Int32Array ? y : Array.isArray(y) ? Int32Array.from(y) : undefined;
  if (!labels) throw new TypeError(`kiln.${fn}: expected labels as an Int32Array or number[] (or targets as a Tensor)`);
  if (labels.length < count) throw new RangeError(`kiln.${fn}: ${count} samples but only ${labels.length} labels`);
  for (let i = 0; i < count; i++) {
    if (!(labels[i] >= 0 && labels[i] < outputSize)) {
      throw new RangeError(`kiln.${fn}: label ${labels[i]} at index ${i} is outside [0, ${outputSize - 1}] (the model has ${outputSize} outputs)`);
    }
  }
  samples.labels = labels;
  return samples;
}

/** Keras' validationSplit: the last `fraction` of the samples, before shuffling. */
export function splitSamples(samples: Samples, fraction: number): { train: Samples; validation: Samples } {
  const validationCount = Math.floor(samples.count * fraction);
  const trainCount = samples.count - validationCount;
  if (validationCount < 1 || trainCount < 1) throw new RangeError(`kiln.fit: validationSplit ${fraction} leaves no training or no validation samples`);
  const slice = (start: number, count: number): Samples => ({
    images: samples.images.subarray(start * samples.sampleSize, (start + count) * samples.sampleSize),
    labels: samples.labels?.subarray(start, start + count),
    targets: samples.targets?.subarray(start * samples.targetSize, (start + count) * samples.targetSize),
    count,
    sampleSize: samples.sampleSize,
    targetSize: samples.targetSize,
  });
  return { train: slice(0, trainCount), validation: slice(trainCount, validationCount) };
}

export interface Batch {
  images: Float32Array;
  labels: Int32Array | null;
  targets: Float32Array | null;
  count: number;
}

/**
 * Yields batches in `order` (or in sequence), copied into buffers reused from
 * batch to batch: a yielded batch is valid until the next one.
 */
export function* gatherBatches(samples: Samples, batchSize: number, order?: Int32Array): Generator<Batch> {
  const images = new Float32Array(batchSize * samples.sampleSize);
  const labels = samples.labels ? new Int32Array(batchSize) : null;
  const targets = samples.targets ? new Float32Array(batchSize * samples.targetSize) : null;
  for (let start = 0; start < samples.count; start += batchSize) {
    const count = Math.min(batchSize, samples.count - start);
    if (!order) {
      yield {
        images: samples.images.subarray(start * samples.sampleSize, (start + count) * samples.sampleSize),
        labels: samples.labels ? samples.labels.subarray(start, start + count) : null,
        targets: samples.targets ? samples.targets.subarray(start * samples.targetSize, (start + count) * samples.targetSize) : null,
        count,
      };
      continue;
    }
    for (let i = 0; i < count; i++) {
      const index = order[start + i];
      images.set(samples.images.subarray(index * samples.sampleSize, (index + 1) * samples.sampleSize), i * samples.sampleSize);
      if (labels) labels[i] = samples.labels![index];
      if (targets) targets.set(samples.targets!.subarray(index * samples.targetSize, (index + 1) * samples.targetSize), i * samples.targetSize);
    }
    yield { images, labels, targets, count };
  }
}
