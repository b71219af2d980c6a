import t, { Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadCifar10 } from '../../lib/data/cifar10';

const PLANE = 1024;
const RECORD = 3073;

function tempDir(t: { teardown(fn: () => void): unknown }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cifar-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Record `id`: red = (id + p) % 256, green = (2 id + 3 p) % 256, blue = 255 - red, p = pixel index.
function records(ids: number[], labelOf = (id: number) => id % 10): Buffer {
  const bytes = Buffer.alloc(ids.length * RECORD);
  ids.forEach((id, r) => {
    const base = r * RECORD;
    bytes[base] = labelOf(id);
    for (let p = 0; p < PLANE; p++) {
      bytes[base + 1 + p] = (id + p) % 256;
      bytes[base + 1 + PLANE + p] = (2 * id + 3 * p) % 256;
      bytes[base + 1 + 2 * PLANE + p] = 255 - ((id + p) % 256);
    }
  });
  return bytes;
}

function checkImage(t: Test, images: Float32Array, slot: number, id: number): void {
  // Spot-check pixels (row, col) in NHWC: index = ((slot * 32 + row) * 32 + col) * 3 + channel.
  for (const [row, col] of [[0, 0], [0, 31], [17, 5], [31, 31]]) {
    const p = row * 32 + col;
    const at = ((slot * 32 + row) * 32 + col) * 3;
    t.equal(images[at], Math.fround(((id + p) % 256) / 255), `red of image ${id} at ${row},${col}`);
    t.equal(images[at + 1], Math.fround(((2 * id + 3 * p) % 256) / 255), `green of image ${id} at ${row},${col}`);
    t.equal(images[at + 2], Math.fround((255 - ((id + p) % 256)) / 255), `blue of image ${id} at ${row},${col}`);
  }
}

t.test('train batches 1..5 and the test batch decode to NHWC in [0, 1]', async (t) => {
  const dir = tempDir(t);
  for (let b = 1; b <= 5; b++) fs.writeFileSync(path.join(dir, `data_batch_${b}.bin`), records([b * 10, b * 10 + 1]));
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), records([7, 8, 9]));
  const train = loadCifar10(dir, 'train');
  t.equal(train.count, 10);
  t.same(train.shape, [32, 32, 3]);
  t.equal(train.classes, 10);
  t.equal(train.images.length, 10 * 32 * 32 * 3);
  t.same(Array.from(train.labels), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
  checkImage(t, train.images, 0, 10);
  checkImage(t, train.images, 9, 51);
  const test = loadCifar10(dir, 'test');
  t.equal(test.count, 3);
  t.same(Array.from(test.labels), [7, 8, 9]);
  checkImage(t, test.images, 2, 9);
  let min = Infinity;
  let max = -Infinity;
  for (const v of train.images) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  t.equal(min, 0);
  t.equal(max, 1);
});

t.test('the cifar-10-batches-bin folder and a single file path are accepted', async (t) => {
  const dir = tempDir(t);
  const inner = path.join(dir, 'cifar-10-batches-bin');
  fs.mkdirSync(inner);
  fs.writeFileSync(path.join(inner, 'test_batch.bin'), records([3]));
  t.same(Array.from(loadCifar10(dir, 'test').labels), [3]);
  const single = path.join(dir, 'some.bin');
  fs.writeFileSync(single, records([4, 5]));
  const ds = loadCifar10(single, 'train');
  t.equal(ds.count, 2);
  checkImage(t, ds.images, 1, 5);
});

t.test('bad sizes, labels and missing files fail clearly', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'short.bin');
  fs.writeFileSync(file, records([1]).subarray(0, RECORD - 1));
  t.throws(() => loadCifar10(file, 'test'), /kiln.loadCifar10: .*short.bin holds 3072 bytes, not a positive multiple of the 3073-byte CIFAR-10 record/);
  const empty = path.join(dir, 'empty.bin');
  fs.writeFileSync(empty, Buffer.alloc(0));
  t.throws(() => loadCifar10(empty, 'test'), /empty.bin holds 0 bytes/);
  const bad = path.join(dir, 'bad-label.bin');
  fs.writeFileSync(bad, records([1, 2], (id) => (id === 2 ? 10 : 1)));
  t.throws(() => loadCifar10(bad, 'test'), /bad-label.bin has label 10 in record 1, outside 0..9/);

  t.throws(() => loadCifar10(dir, 'test'), /cannot find the CIFAR-10 test batch test_batch.bin; looked for .*test_batch.bin, .*test_batch.bin.gz/);
  for (const b of [1, 2, 4, 5]) fs.writeFileSync(path.join(dir, `data_batch_${b}.bin`), records([b]));
  t.throws(() => loadCifar10(dir, 'train'), /cannot find the CIFAR-10 train batch data_batch_3.bin/);
  t.throws(() => loadCifar10(path.join(dir, 'nowhere'), 'train'), /kiln.loadCifar10: cannot find .*nowhere/);
  t.throws(() => loadCifar10(dir, 'val' as never), /expected 'train' or 'test' for 'split'/);
});
