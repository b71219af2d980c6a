// Argument checks shared by every public function. One message format:
//   "kiln.<function>: expected <what> for '<argument>' but received <what came>"
// The native side checks again with the same format.

export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return `'${value.length > 40 ? value.slice(0, 40) + '...' : value}'`;
  if (typeof value === 'boolean') return String(value);
  if (value instanceof Float32Array) return `a Float32Array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (Array.isArray(value)) return `[${value.map(describeValue).join(', ')}]`;
  if (typeof value === 'function') return 'a function';
  return 'an object';
}

export function argumentError(fn: string, argument: string, expected: string, received: unknown): TypeError {
  return new TypeError(`kiln.${fn}: expected ${expected} for '${argument}' but received ${describeValue(received)}`);
}

export function rangeError(fn: string, argument: string, expected: string, received: string): RangeError {
  return new RangeError(`kiln.${fn}: expected ${expected} for '${argument}' but received ${received}`);
}

export function expectInteger(fn: string, argument: string, value: unknown, minimum: number, maximum = 2 ** 31 - 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum || value > maximum) {
    throw argumentError(fn, argument, `an integer in [${minimum}, ${maximum}]`, value);
  }
  return value;
}

export function expectNumber(fn: string, argument: string, value: unknown, minimum = -Infinity, maximum = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum || value > maximum) {
    const range = Number.isFinite(minimum) || Number.isFinite(maximum) ? ` in [${minimum}, ${maximum}]` : '';
    throw argumentError(fn, argument, `a finite number${range}`, value);
  }
  return value;
}

export function expectFloat32Array(fn: string, argument: string, value: unknown, length?: number): Float32Array {
  if (!(value instanceof Float32Array)) throw argumentError(fn, argument, 'a Float32Array', value);
  if (length !== undefined && value.length !== length) {
    throw rangeError(fn, argument, `a Float32Array of length ${length}`, `length ${value.length}`);
  }
  return value;
}

/** Validates a shape (positive integer dimensions) and returns its element count. */
export function expectShape(fn: string, argument: string, shape: unknown, rank?: number): number[] {
  if (!Array.isArray(shape) || (rank !== undefined && shape.length !== rank)) {
    throw argumentError(fn, argument, rank === undefined ? 'a shape (array of positive integers)' : `a shape of rank ${rank}`, shape);
  }
  let count = 1;
  for (const dimension of shape) {
    if (typeof dimension !== 'number' || !Number.isInteger(dimension) || dimension < 1) {
      throw argumentError(fn, argument, 'a shape of positive integers', shape);
    }
    count *= dimension;
    if (count > Number.MAX_SAFE_INTEGER) {
      throw rangeError(fn, argument, 'a shape whose element count fits in 2^53', `[${shape.join(', ')}] (overflows)`);
    }
  }
  return shape as number[];
}

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
