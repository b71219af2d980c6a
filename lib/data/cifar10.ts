// CIFAR-10 "binary version" batches. Each record is 3073 bytes: one label byte
// (0..9), then a 32x32 red plane, green plane and blue plane, each row-major.
// kiln is channels-last, so the planes are interleaved into NHWC floats in [0, 1].
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createDataset, Dataset } from './dataset';
import { findFile, readDataFile } from './read-file';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;
const CLASSES = 10;

export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

function checkRecords(bytes: Uint8Array, file: string): number {
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    throw new Error(
      `kiln.loadCifar10: ${file} holds ${bytes.length} bytes, not a positive multiple of the ${RECORD}-byte CIFAR-10 record (1 label byte + 3x32x32 pixels)`,
    );
  }
  const count = bytes.length / RECORD;
  for (let record = 0; record < count; record++) {
    const label = bytes[record * RECORD];
    if (label >= CLASSES) throw new Error(`kiln.loadCifar10: ${file} has label ${label} in record ${record}, outside 0..9`);
  }
  return count;
}

/** Converts records into `images` / `labels` starting at image `first`. */
function decodeRecords(bytes: Uint8Array, count: number, images: Float32Array, labels: Int32Array, first: number): void {
  const scale = 1 / 255;
  for (let record = 0; record < count; record++) {
    const base = record * RECORD;
    const image = first + record;
    labels[image] = bytes[base];
    const out = image * PLANE * 3;
    for (let pixel = 0; pixel < PLANE; pixel++) {
      images[out + pixel * 3] = bytes[base + 1 + pixel] * scale;
      images[out + pixel * 3 + 1] = bytes[base + 1 + PLANE + pixel] * scale;
      images[out + pixel * 3 + 2] = bytes[base + 1 + 2 * PLANE + pixel] * scale;
    }
  }
}

/** The batch files of a split, looked for in `dir` and in the `cifar-10-batches-bin` folder the archive unpacks to. */
function splitFiles(dir: string, split: 'train' | 'test'): string[] {
  const names = split === 'train' ? [1, 2, 3, 4, 5].map((n) => `data_batch_${n}.bin`) : ['test_batch.bin'];
  const roots = [dir, path.join(dir, 'cifar-10-batches-bin')];
  const root = roots.find((candidate) => names.some((name) => fs.existsSync(path.join(candidate, name)))) ?? dir;
  return names.map((name) => findFile('loadCifar10', `CIFAR-10 ${split} batch ${name}`, [path.join(root, name), path.join(root, `${name}.gz`)]));
}

/**
 * CIFAR-10 from the binary batches: `source` is a folder (train: data_batch_1..5.bin,
 * test: test_batch.bin) or one batch file (then `split` only names the result).
 * Images are 32x32x3, NHWC, in [0, 1].
 */
export function loadCifar10(source: string, split: 'train' | 'test'): Dataset {
  if (split !== 'train' && split !== 'test') {
    throw new TypeError(`kiln.loadCifar10: expected 'train' or 'test' for 'split' but received ${String(split)}`);
  }
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch {
    throw new Error(`kiln.loadCifar10: cannot find ${source} (expected a folder with data_batch_1..5.bin and test_batch.bin, or one batch file)`);
  }
  const files = stat.isFile() ? [source] : splitFiles(source, split);
  // Read and check every file before allocating the result from their sizes.
  const contents = files.map((file) => readDataFile('loadCifar10', file));
  const counts = contents.map((bytes, i) => checkRecords(bytes, files[i]));
  const total = counts.reduce((sum, count) => sum + count, 0);
  const images = new Float32Array(total * PLANE * 3);
  const labels = new Int32Array(total);
  let first = 0;
  contents.forEach((bytes, i) => {
    decodeRecords(bytes, counts[i], images, labels, first);
    first += counts[i];
  });
  return createDataset({ images, labels, shape: [SIDE, SIDE, 3], classes: CLASSES, name: `cifar10:${source} (${split})` });
}
