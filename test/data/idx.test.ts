import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { loadIdxDataset, parseIdx, readIdxImages, readIdxLabels } from '../../lib/data/idx';

function idxBytes(type: number, dimensions: number[], data: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dimensions.length);
  header[2] = type;
  header[3] = dimensions.length;
  dimensions.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Array.from(data))]);
}

const images = (count: number, rows: number, cols: number, pixels: ArrayLike<number>) => idxBytes(0x08, [count, rows, cols], pixels);
const labels = (values: number[]) => idxBytes(0x08, [values.length], values);

function tempDir(t: { teardown(fn: () => void): unknown }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-idx-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// 3 images of 2x3 and 2 of 2x3; pixel = 10 * image + position.
const TRAIN_PIXELS = Array.from({ length: 3 * 6 }, (_, i) => Math.floor(i / 6) * 10 + (i % 6));
const TEST_PIXELS = [0, 255, 128, 1, 2, 3, 9, 8, 7, 6, 5, 4];

function writeSet(dir: string, gzip: boolean): void {
  const write = (name: string, bytes: Buffer) =>
    fs.writeFileSync(path.join(dir, gzip ? `${name}.gz` : name), gzip ? zlib.gzipSync(bytes) : bytes);
  write('train-images-idx3-ubyte', images(3, 2, 3, TRAIN_PIXELS));
  write('train-labels-idx1-ubyte', labels([4, 0, 9]));
  write('t10k-images-idx3-ubyte', images(2, 2, 3, TEST_PIXELS));
  write('t10k-labels-idx1-ubyte', labels([1, 7]));
}

for (const gzip of [false, true]) {
  t.test(`round trip of generated ${gzip ? 'gzipped' : 'plain'} IDX files`, async (t) => {
    const dir = tempDir(t);
    writeSet(dir, gzip);
    const train = loadIdxDataset(dir, 'train');
    t.equal(train.count, 3);
    t.same(train.shape, [2, 3, 1]);
    t.equal(train.classes, 10);
    t.same(Array.from(train.labels), [4, 0, 9]);
    t.same(Array.from(train.images), TRAIN_PIXELS.map((v) => Math.fround(v * (1 / 255))));
    const test = loadIdxDataset(dir, 'test');
    t.equal(test.count, 2);
    t.same(Array.from(test.labels), [1, 7]);
    t.equal(test.images[1], 1, '255 maps to 1');
    t.equal(test.images[0], 0);
    t.ok(Math.abs(test.images[2] - 128 / 255) < 1e-7);
  });
}

t.test('the dotted file names some archives unpack to are found too', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 't10k-images.idx3-ubyte'), images(1, 1, 1, [51]));
  fs.writeFileSync(path.join(dir, 't10k-labels.idx1-ubyte'), labels([3]));
  const test = loadIdxDataset(dir, 'test');
  t.same(Array.from(test.labels), [3]);
  t.ok(Math.abs(test.images[0] - 0.2) < 1e-7);
});

t.test('missing files name every path looked at', async (t) => {
  const dir = tempDir(t);
  t.throws(() => loadIdxDataset(dir, 'train'), /kiln.loadIdxDataset: cannot find the train images; looked for .*train-images-idx3-ubyte, .*train-images-idx3-ubyte.gz/);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), images(1, 1, 1, [0]));
  t.throws(() => loadIdxDataset(dir, 'train'), /cannot find the train labels; looked for .*train-labels-idx1-ubyte/);
  t.throws(() => loadIdxDataset(dir, 'validation' as never), /expected 'train' or 'test' for 'split'/);
});

t.test('malformed files fail with the file name and the problem', async (t) => {
  const dir = tempDir(t);
  const file = (name: string, bytes: Buffer) => {
    const full = path.join(dir, name);
    fs.writeFileSync(full, bytes);
    return full;
  };
  const escaped = (full: string) => full.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  const labelsAsImages = file('labels-as-images', labels([1, 2]));
  t.throws(() => readIdxImages(labelsAsImages), new RegExp(`${escaped(labelsAsImages)} has wrong magic number 0x00000801; expected 0x00000803`));
  const imagesAsLabels = file('images-as-labels', images(1, 1, 1, [0]));
  t.throws(() => readIdxLabels(imagesAsLabels), new RegExp(`${escaped(imagesAsLabels)} has wrong magic number 0x00000803; expected 0x00000801`));
  const text = file('text', Buffer.from('hello world'));
  t.throws(() => readIdxImages(text), new RegExp(`${escaped(text)} is not an IDX file: wrong magic number 0x68656c6c`));
  const tiny = file('tiny', Buffer.from([0, 0]));
  t.throws(() => readIdxImages(tiny), new RegExp(`${escaped(tiny)} is not an IDX file: it holds 2 bytes`));

  const truncated = file('truncated', images(3, 2, 2, new Array(8).fill(1)));
  t.throws(() => readIdxImages(truncated), new RegExp(`${escaped(truncated)} is truncated: its header says \\[3, 2, 2\\] = 12 bytes of data but the file holds 8`));
  const trailing = file('trailing', images(1, 2, 2, new Array(5).fill(1)));
  t.throws(() => readIdxImages(trailing), new RegExp(`${escaped(trailing)} has trailing bytes`));
  // A header claiming 4 billion images must fail on the size check, not try to allocate.
  const huge = file('huge', images(0xffffffff, 0xffff, 0xffff, [1, 2, 3]));
  t.throws(() => readIdxImages(huge), new RegExp(`${escaped(huge)} is truncated: its header says \\[4294967295, 65535, 65535\\]`));
  const shortHeader = file('short-header', Buffer.from([0, 0, 8, 3, 0, 0, 0, 1]));
  t.throws(() => readIdxImages(shortHeader), new RegExp(`${escaped(shortHeader)} is truncated: its header declares 3 dimensions \\(16 header bytes\\) but the file holds 8 bytes`));

  const floats = file('floats', idxBytes(0x0d, [1, 1, 1], [0, 0, 0, 0]));
  t.throws(() => readIdxImages(floats), new RegExp(`${escaped(floats)} has unsupported element type 0x0d \\(float32\\); only unsigned byte \\(0x08\\) is supported`));
  const badLabel = file('bad-label', labels([3, 10]));
  t.throws(() => readIdxLabels(badLabel), new RegExp(`${escaped(badLabel)} has label 10 at index 1, outside 0..9`));
  const emptyImages = file('empty-images', images(2, 0, 3, []));
  t.throws(() => readIdxImages(emptyImages), new RegExp(`${escaped(emptyImages)} declares empty 0x3 images`));

  const brokenGzip = file('broken.gz', zlib.gzipSync(images(2, 2, 2, new Array(8).fill(7))).subarray(0, 20));
  t.throws(() => readIdxImages(brokenGzip), new RegExp(`${escaped(brokenGzip)} starts like a gzip file but does not unzip`));
  const truncatedInGzip = file('truncated-in.gz', zlib.gzipSync(images(3, 2, 2, new Array(8).fill(1))));
  t.throws(() => readIdxImages(truncatedInGzip), new RegExp(`${escaped(truncatedInGzip)} is truncated`));
  t.throws(() => readIdxImages(path.join(dir, 'absent')), /kiln.readIdxImages: cannot read .*absent/);
  t.throws(() => parseIdx(new Uint8Array([0, 0, 8, 0]), 'mem'), /mem declares 0 dimensions/);
});

t.test('image and label counts must agree', async (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), images(2, 1, 1, [1, 2]));
  fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(labels([1, 2, 3])));
  t.throws(
    () => loadIdxDataset(dir, 'train'),
    /kiln.loadIdxDataset: .*train-images-idx3-ubyte holds 2 images but .*train-labels-idx1-ubyte.gz holds 3 labels/,
  );
});
