// A Tensor is a shape plus a Float32Array, channels-last (NHWC) for images,
// like Keras and TF.js. No native memory, nothing to dispose.
import { argumentError, expectShape, formatShape, rangeError, shapeSize } from './validate';

export class Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;

  constructor(data: Float32Array | ArrayLike<number>, shape: readonly number[]) {
    expectShape('Tensor', 'shape', shape as number[]);
    const values = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    if (values.length !== shapeSize(shape)) {
      throw rangeError('Tensor', 'data', `${shapeSize(shape)} values for shape ${formatShape(shape)}`, `${values.length} values`);
    }
    this.shape = Object.freeze([...shape]);
    this.data = values;
  }

  static zeros(shape: readonly number[]): Tensor {
    expectShape('Tensor.zeros', 'shape', shape as number[]);
    return new Tensor(new Float32Array(shapeSize(shape)), shape);
  }

  static fill(shape: readonly number[], value: number): Tensor {
    return new Tensor(new Float32Array(shapeSize(expectShape('Tensor.fill', 'shape', shape as number[]))).fill(value), shape);
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Same data, new shape (no copy). */
  reshape(shape: readonly number[]): Tensor {
    if (shapeSize(expectShape('Tensor.reshape', 'shape', shape as number[])) !== this.size) {
      throw rangeError('Tensor.reshape', 'shape', `a shape of ${this.size} elements`, formatShape(shape));
    }
    return new Tensor(this.data, shape);
  }

  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /** Index of the largest value in each row of the last axis. */
  argMax(): Int32Array {
    const classes = this.shape[this.shape.length - 1];
    const rows = this.size / classes;
    const result = new Int32Array(rows);
    for (let row = 0; row < rows; row++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (this.data[row * classes + c] > this.data[row * classes + best]) best = c;
      result[row] = best;
    }
    return result;
  }

  toString(): string {
    return `Tensor${formatShape(this.shape)}`;
  }
}

export function expectTensor(fn: string, argument: string, value: unknown, rank?: number): Tensor {
  if (!(value instanceof Tensor)) throw argumentError(fn, argument, 'a Tensor', value);
  if (rank !== undefined && value.rank !== rank) {
    throw rangeError(fn, argument, `a Tensor of rank ${rank}`, `shape ${formatShape(value.shape)}`);
  }
  return value;
}
