import t from 'tap';
import { batches, createDataset, Dataset, shuffledIndices, splitDataset, subset } from '../../lib/data/dataset';

// count images of shape [2, 3, 1] whose every value is the image index, labels = index % classes.
function indexDataset(count: number, classes = 4): Dataset {
  const size = 6;
  const images = new Float32Array(count * size);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    images.fill(i, i * size, (i + 1) * size);
    labels[i] = i % classes;
  }
  return createDataset({ images, labels, shape: [2, 3, 1], classes, name: 'indexed' });
}

function imageIds(images: Float32Array, count: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = images[i * 6];
    for (let k = 1; k < 6; k++) if (images[i * 6 + k] !== id) throw new Error(`image ${i} is torn`);
    ids.push(id);
  }
  return ids;
}

t.test('createDataset checks lengths, shape and labels', async (t) => {
  const ds = indexDataset(5);
  t.equal(ds.count, 5);
  t.same(ds.shape, [2, 3, 1]);
  t.throws(
    () => createDataset({ images: new Float32Array(11), labels: new Int32Array(2), shape: [2, 3, 1], classes: 2, name: 'x' }),
    /kiln.createDataset: expected 2 images of 6 values \(12\) for 'images' but received 11 values/,
  );
  t.throws(
    () => createDataset({ images: new Float32Array(6), labels: Int32Array.of(3), shape: [2, 3, 1], classes: 3, name: 'x' }),
    /expected labels in \[0, 2\] for 'labels' but received 3 at index 0/,
  );
  t.throws(() => createDataset({ images: new Float32Array(6), labels: Int32Array.of(0), shape: [2, 3], classes: 3, name: 'x' }), /'shape'/);
});

t.test('shuffledIndices is a seeded permutation', async (t) => {
  const a = shuffledIndices(1000, 1);
  t.same(Array.from(a).sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i), 'a permutation');
  t.same(a, shuffledIndices(1000, 1), 'same seed, same order');
  t.not(Array.from(a).join(), Array.from(shuffledIndices(1000, 2)).join(), 'another seed, another order');
  t.not(Array.from(a).join(), Array.from({ length: 1000 }, (_, i) => i).join(), 'actually shuffled');
  t.same(shuffledIndices(0, 1), new Int32Array(0));
  t.same(shuffledIndices(1, 1), Int32Array.of(0));
  t.throws(() => shuffledIndices(-1, 0), /kiln.shuffledIndices: expected an integer in \[0, 2147483647\] for 'count' but received -1/);
});

t.test('subset copies images and labels in the given order', async (t) => {
  const ds = indexDataset(10);
  const part = subset(ds, [7, 2, 7]);
  t.equal(part.count, 3);
  t.same(imageIds(part.images, 3), [7, 2, 7]);
  t.same(Array.from(part.labels), [3, 2, 3]);
  part.images[0] = -1;
  t.equal(ds.images[7 * 6], 7, 'a copy, not a view');
  t.throws(() => subset(ds, [10]), /kiln.subset: expected indices in \[0, 9\] for 'indices' but received 10 at position 0/);
});

t.test('splitDataset is disjoint, complete and deterministic by seed', async (t) => {
  const ds = indexDataset(50);
  const { train, test } = splitDataset(ds, 35, 9);
  t.equal(train.count, 35);
  t.equal(test.count, 15);
  const trainIds = imageIds(train.images, train.count);
  const testIds = imageIds(test.images, test.count);
  t.same([...trainIds, ...testIds].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  trainIds.forEach((id, i) => t.equal(train.labels[i], id % 4));
  const again = splitDataset(ds, 35, 9);
  t.same(again.train.images, train.images);
  t.same(again.test.labels, test.labels);
  t.not(imageIds(splitDataset(ds, 35, 10).train.images, 35).join(), trainIds.join());
  t.throws(() => splitDataset(ds, 51, 0), /kiln.splitDataset: expected an integer in \[0, 50\] for 'trainCount' but received 51/);
});

t.test('batches cover every image exactly once per epoch', async (t) => {
  const ds = indexDataset(23);
  for (const shuffle of [false, true]) {
    const iterable = batches(ds, 5, { shuffle, seed: 3, epoch: 1 });
    t.equal(iterable.batchCount, 5);
    const seen: number[] = [];
    const counts: number[] = [];
    for (const batch of iterable) {
      counts.push(batch.count);
      t.equal(batch.images.length, batch.count * 6);
      t.equal(batch.labels.length, batch.count);
      const ids = imageIds(batch.images, batch.count);
      ids.forEach((id, i) => t.equal(batch.labels[i], id % 4, 'label travels with its image'));
      seen.push(...ids);
    }
    t.same(counts, [5, 5, 5, 5, 3]);
    t.same([...seen].sort((a, b) => a - b), Array.from({ length: 23 }, (_, i) => i), `shuffle ${shuffle}`);
    if (!shuffle) t.same(seen, Array.from({ length: 23 }, (_, i) => i), 'dataset order without shuffle');
  }
});

t.test('shuffled order is fixed by seed and epoch and differs across epochs', async (t) => {
  const ds = indexDataset(40);
  const order = (seed: number, epoch: number) => {
    const ids: number[] = [];
    for (const batch of batches(ds, 8, { shuffle: true, seed, epoch })) ids.push(...imageIds(batch.images, batch.count));
    return ids.join();
  };
  t.equal(order(1, 0), order(1, 0));
  t.not(order(1, 0), order(1, 1));
  t.not(order(1, 1), order(1, 2));
  t.not(order(1, 0), order(2, 0));
  const iterable = batches(ds, 8, { shuffle: true, seed: 4, epoch: 2 });
  const first = [...iterable].length;
  t.equal(first, 5);
  const replay: number[] = [];
  for (const batch of iterable) replay.push(...imageIds(batch.images, batch.count));
  t.equal(replay.join(), order(4, 2), 'iterating again replays the epoch');
});

t.test('batches reuse two buffers, drop the remainder on request, and validate options', async (t) => {
  const ds = indexDataset(10);
  const seenBuffers = new Set<ArrayBufferLike>();
  const kept: Float32Array[] = [];
  for (const batch of batches(ds, 4)) {
    seenBuffers.add(batch.images.buffer);
    seenBuffers.add(batch.labels.buffer);
    kept.push(batch.images);
  }
  t.equal(seenBuffers.size, 2, 'one image buffer and one label buffer for the whole epoch');
  t.equal(kept[0].buffer, kept[2].buffer);
  t.equal(kept[2].length, 2 * 6, 'the short last batch is a view of exactly its images');
  t.equal(imageIds(kept[0], 2)[0], 8, 'an earlier batch was overwritten by the last one, as documented');

  const dropped = batches(ds, 4, { dropRemainder: true });
  t.equal(dropped.batchCount, 2);
  t.same([...dropped].map((b) => b.count), [4, 4]);
  t.same([...batches(ds, 16)].map((b) => b.count), [10], 'batch larger than the dataset');
  t.same([...batches(ds, 16, { dropRemainder: true })].length, 0);
  t.same([...batches(ds, 5)].map((b) => b.index), [0, 1]);

  t.throws(() => batches(ds, 0), /kiln.batches: expected an integer in \[1, 2147483647\] for 'batchSize' but received 0/);
  t.throws(() => batches(ds, 2, { epoch: -1 }), /for 'options.epoch' but received -1/);
  t.throws(() => batches(ds, 2, { seed: 0.5 }), /for 'options.seed' but received 0.5/);
  t.throws(() => batches(ds, 2, { shuffle: 'yes' as never }), /expected a boolean for 'options.shuffle'/);
});
