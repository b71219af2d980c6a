import t from 'tap';
import { loadMnistPackage, loadMnistSplit } from '../../lib/data/mnist-package';

// Identifies an image by a hash of its pixels, to compare sets across splits.
function imageKeys(images: Float32Array, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    let h1 = 0x811c9dc5;
    let h2 = 0;
    for (let k = 0; k < 784; k++) {
      const v = Math.round(images[i * 784 + k] * 1000);
      h1 = Math.imul(h1 ^ v, 16777619);
      h2 = (h2 * 31 + v * (k + 1)) % 2147483647;
    }
    keys.push(`${h1 >>> 0}:${h2}`);
  }
  return keys;
}

function sameBytes(a: Float32Array | Int32Array, b: Float32Array | Int32Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

t.test('the mnist package holds 10,000 28x28x1 digits in [0, 1] with all ten labels', async (t) => {
  const random = Math.random;
  Math.random = () => {
    throw new Error('Math.random must not be used');
  };
  let ds;
  try {
    ds = loadMnistPackage();
  } finally {
    Math.random = random;
  }
  t.equal(ds.count, 10000);
  t.same(ds.shape, [28, 28, 1]);
  t.equal(ds.classes, 10);
  t.equal(ds.images.length, 10000 * 784);
  t.equal(ds.labels.length, 10000);
  let min = Infinity;
  let max = -Infinity;
  for (const v of ds.images) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  t.equal(min, 0);
  t.equal(max, 1);
  const perClass = new Array(10).fill(0);
  for (const label of ds.labels) perClass[label]++;
  t.same(perClass, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  // Not an empty image: a digit covers a reasonable share of the canvas.
  let ink = 0;
  for (let k = 0; k < 784; k++) ink += ds.images[5000 * 784 + k];
  t.ok(ink > 20 && ink < 400, `ink ${ink}`);
  t.not(ds.images, loadMnistPackage().images, 'every call copies');
});

t.test('loadMnistSplit is 8,000 / 2,000, disjoint and deterministic by seed', async (t) => {
  const { train, test } = loadMnistSplit();
  t.equal(train.count, 8000);
  t.equal(test.count, 2000);
  for (let digit = 0; digit < 10; digit++) t.ok(test.labels.includes(digit), `digit ${digit} in test`);

  // Disjoint and complete: train and test together are exactly the package's images
  // (as a multiset of pixel hashes, so duplicate pictures in the package do not matter).
  const all = loadMnistPackage();
  const joined = [...imageKeys(train.images, train.count), ...imageKeys(test.images, test.count)].sort();
  t.equal(joined.join(), imageKeys(all.images, all.count).sort().join());

  const again = loadMnistSplit({ seed: 0 });
  t.ok(sameBytes(again.train.images, train.images) && sameBytes(again.test.images, test.images), 'same seed, same images');
  t.ok(sameBytes(again.train.labels, train.labels) && sameBytes(again.test.labels, test.labels), 'same seed, same labels');

  const other = loadMnistSplit({ seed: 1, trainCount: 9000 });
  t.equal(other.train.count, 9000);
  t.equal(other.test.count, 1000);
  t.not(Array.from(other.train.labels.subarray(0, 50)).join(), Array.from(train.labels.subarray(0, 50)).join());
  t.throws(() => loadMnistSplit({ trainCount: 10001 }), /kiln.splitDataset: expected an integer in \[0, 10000\] for 'trainCount'/);
});
