// IDX files, the format of MNIST and Fashion-MNIST (gzipped or not):
//   bytes 0-1  zero
//   byte  2    element type (0x08 = unsigned byte; the only one these datasets use)
//   byte  3    number of dimensions
//   then one big-endian uint32 per dimension, then the elements, row-major.
// Images are magic 0x00000803 [N, rows, cols], labels 0x00000801 [N].
// Every header is checked against the bytes actually present before anything
// is allocated from it.
import * as path from 'node:path';
import { createDataset, Dataset } from './dataset';
import { findFile, readDataFile } from './read-file';

export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

export interface IdxArray {
  dimensions: number[];
  /** The elements, a view of the file's bytes. */
  data: Uint8Array;
}

/** Parses an (unzipped) IDX buffer of unsigned bytes; `file` names it in errors. */
export function parseIdx(bytes: Uint8Array, file: string, expectedMagic?: number): IdxArray {
  const fn = 'parseIdx';
  if (bytes.length < 4) throw new Error(`kiln.${fn}: ${file} is not an IDX file: it holds ${bytes.length} bytes, fewer than the 4-byte magic number`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const hex = (value: number) => `0x${value.toString(16).padStart(8, '0')}`;
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(`kiln.${fn}: ${file} is not an IDX file: wrong magic number ${hex(magic)} (expected ${hex(expectedMagic ?? IDX_IMAGES_MAGIC)})`);
  }
  const type = bytes[2];
  if (type !== 0x08) {
    const name = TYPE_NAMES[type] ?? 'unknown';
    throw new Error(`kiln.${fn}: ${file} has unsupported element type 0x${type.toString(16).padStart(2, '0')} (${name}); only unsigned byte (0x08) is supported`);
  }
  if (expectedMagic !== undefined && magic !== expectedMagic) {
    const kind = expectedMagic === IDX_IMAGES_MAGIC ? 'images [N, rows, cols]' : 'labels [N]';
    throw new Error(`kiln.${fn}: ${file} has wrong magic number ${hex(magic)}; expected ${hex(expectedMagic)} for ${kind}`);
  }
  const rank = bytes[3];
  const headerLength = 4 + 4 * rank;
  if (rank === 0) throw new Error(`kiln.${fn}: ${file} declares 0 dimensions`);
  if (bytes.length < headerLength) {
    throw new Error(`kiln.${fn}: ${file} is truncated: its header declares ${rank} dimensions (${headerLength} header bytes) but the file holds ${bytes.length} bytes`);
  }
  const dimensions: number[] = [];
  let elements = 1;
  for (let d = 0; d < rank; d++) {
    const size = view.getUint32(4 + 4 * d, false);
    dimensions.push(size);
    elements *= size; // at most 2^(32*255): a double, compared below, never used to allocate
  }
  const available = bytes.length - headerLength;
  if (elements !== available) {
    const problem = elements > available ? 'is truncated' : 'has trailing bytes';
    throw new Error(
      `kiln.${fn}: ${file} ${problem}: its header says [${dimensions.join(', ')}] = ${elements} bytes of data but the file holds ${available}`,
    );
  }
  return { dimensions, data: bytes.subarray(headerLength) };
}

/** Images of an IDX file, [N, rows, cols] unsigned bytes, as NHWC (C = 1) floats in [0, 1]. */
export function readIdxImages(file: string): { images: Float32Array; count: number; rows: number; columns: number } {
  const parsed = parseIdx(readDataFile('readIdxImages', file), file, IDX_IMAGES_MAGIC);
  if (parsed.dimensions.length !== 3) {
    throw new Error(`kiln.readIdxImages: ${file} has ${parsed.dimensions.length} dimensions; image files have 3 [N, rows, cols]`);
  }
  const [count, rows, columns] = parsed.dimensions;
  if (rows === 0 || columns === 0) throw new Error(`kiln.readIdxImages: ${file} declares empty ${rows}x${columns} images`);
  const images = new Float32Array(parsed.data.length);
  const scale = 1 / 255;
  for (let i = 0; i < images.length; i++) images[i] = parsed.data[i] * scale;
  return { images, count, rows, columns };
}

/** Labels of an IDX file, [N] unsigned bytes, each checked to lie in [0, classes). */
export function readIdxLabels(file: string, classes = 10): Int32Array {
  const parsed = parseIdx(readDataFile('readIdxLabels', file), file, IDX_LABELS_MAGIC);
  if (parsed.dimensions.length !== 1) {
    throw new Error(`kiln.readIdxLabels: ${file} has ${parsed.dimensions.length} dimensions; label files have 1 [N]`);
  }
  const labels = new Int32Array(parsed.data.length);
  for (let i = 0; i < labels.length; i++) {
    const label = parsed.data[i];
    if (label >= classes) throw new Error(`kiln.readIdxLabels: ${file} has label ${label} at index ${i}, outside 0..${classes - 1}`);
    labels[i] = label;
  }
  return labels;
}

/** The file names MNIST and Fashion-MNIST use, with and without .gz, and the dotted variant some archives unpack to. */
export function idxFileCandidates(dir: string, split: 'train' | 'test', kind: 'images' | 'labels'): string[] {
  const prefix = split === 'train' ? 'train' : 't10k';
  const rank = kind === 'images' ? 3 : 1;
  const names = [`${prefix}-${kind}-idx${rank}-ubyte`, `${prefix}-${kind}.idx${rank}-ubyte`];
  return names.flatMap((name) => [path.join(dir, name), path.join(dir, `${name}.gz`)]);
}

/** One split of an MNIST-format dataset in `dir`: 28x28x1 (or whatever the files say) images in [0, 1], 10 classes. */
export function loadIdxDataset(dir: string, split: 'train' | 'test'): Dataset {
  if (split !== 'train' && split !== 'test') {
    throw new TypeError(`kiln.loadIdxDataset: expected 'train' or 'test' for 'split' but received ${String(split)}`);
  }
  const imageFile = findFile('loadIdxDataset', `${split} images`, idxFileCandidates(dir, split, 'images'));
  const labelFile = findFile('loadIdxDataset', `${split} labels`, idxFileCandidates(dir, split, 'labels'));
  const { images, count, rows, columns } = readIdxImages(imageFile);
  const labels = readIdxLabels(labelFile);
  if (labels.length !== count) {
    throw new Error(`kiln.loadIdxDataset: ${imageFile} holds ${count} images but ${labelFile} holds ${labels.length} labels`);
  }
  return createDataset({ images, labels, shape: [rows, columns, 1], classes: 10, name: `idx:${dir} (${split})` });
}
