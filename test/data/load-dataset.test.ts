import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDataset } from '../../lib/data';

t.test('mnist spec gives the package split, seeded', async (t) => {
  const { train, test } = loadDataset('mnist', { trainCount: 9500, seed: 2 });
  t.equal(train.count, 9500);
  t.equal(test.count, 500);
  t.same(train.shape, [28, 28, 1]);
  t.same(Array.from(loadDataset('mnist', { trainCount: 9500, seed: 2 }).test.labels), Array.from(test.labels));
});

t.test('idx: and cifar10: specs read folders', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-spec-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const idx = (dims: number[], data: number[]) => {
    const header = Buffer.alloc(4 + 4 * dims.length);
    header[2] = 8;
    header[3] = dims.length;
    dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([header, Buffer.from(data)]);
  };
  for (const prefix of ['train', 't10k']) {
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte`), idx([2, 1, 2], [0, 51, 102, 255]));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), idx([2], [5, 6]));
  }
  const fromIdx = loadDataset(`idx:${dir}`);
  t.equal(fromIdx.train.count, 2);
  t.same(fromIdx.test.shape, [1, 2, 1]);
  t.same(Array.from(fromIdx.test.labels), [5, 6]);

  const record = Buffer.alloc(3073, 0);
  record[0] = 4;
  for (let b = 1; b <= 5; b++) fs.writeFileSync(path.join(dir, `data_batch_${b}.bin`), record);
  fs.writeFileSync(path.join(dir, 'test_batch.bin'), Buffer.concat([record, record]));
  const fromCifar = loadDataset(`cifar10:${dir}`);
  t.equal(fromCifar.train.count, 5);
  t.equal(fromCifar.test.count, 2);
  t.same(fromCifar.test.shape, [32, 32, 3]);
  t.same(Array.from(fromCifar.test.labels), [4, 4]);
  t.same(loadDataset(`fashion-mnist:${dir}`).test.labels, fromIdx.test.labels, 'fashion-mnist with a folder reads IDX files');
});

t.test('bad specs list the accepted forms', async (t) => {
  t.throws(() => loadDataset('imagenet'), /kiln.loadDataset: expected 'mnist', 'fashion-mnist', 'idx:DIR' or 'cifar10:DIR' for 'spec' but received 'imagenet'/);
  t.throws(() => loadDataset('mnist:/x'), /received 'mnist:\/x'/);
  t.throws(() => loadDataset('idx:'), /expected a folder after 'idx:' in 'spec'/);
  t.throws(() => loadDataset(42 as never), /for 'spec' but received number/);
});
