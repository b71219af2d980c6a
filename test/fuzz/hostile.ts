// Hostile values shared by the fuzz tests: every kind of wrong argument a
// caller can hand the addon, and the one rule every failure must follow (a
// JavaScript Error whose message names the kiln function). Imported by the
// *.test.ts files of this folder; it runs no test itself.
import fc from 'fast-check';

/** A Float32Array whose ArrayBuffer has been transferred away (detached). */
export function detachedFloat32(length: number): Float32Array {
  const array = new Float32Array(length);
  structuredClone(array.buffer, { transfer: [array.buffer] });
  return array;
}

/** A Float32Array over a SharedArrayBuffer, filled from `from` when given. */
export function sharedFloat32(length: number, from?: Float32Array): Float32Array {
  const array = new Float32Array(new SharedArrayBuffer(Math.max(length, 0) * 4));
  if (from) array.set(from);
  return array;
}

/** A Float32Array view that starts 3 floats into a larger buffer. */
export function offsetFloat32(length: number, from?: Float32Array): Float32Array {
  const array = new Float32Array(new ArrayBuffer((length + 5) * 4), 12, length);
  if (from) array.set(from);
  return array;
}

/** A length-tracking Float32Array over a resizable ArrayBuffer. */
export function resizableFloat32(length: number, from?: Float32Array): Float32Array {
  const Resizable = ArrayBuffer as unknown as new (bytes: number, options: { maxByteLength: number }) => ArrayBuffer;
  const array = new Float32Array(new Resizable(length * 4, { maxByteLength: (length + 8) * 4 }));
  if (from) array.set(from);
  return array;
}

export const HOSTILE_GETTER = 'hostile getter';

/** Numbers that are wrong as sizes: negative, zero, NaN, huge, fractional, overflowing. */
export const badNumbers: readonly number[] = [
  -1, 0, -0, 0.5, 1.5, -2.5, NaN, Infinity, -Infinity, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e308,
  -(2 ** 63), Number.MIN_VALUE, Number.EPSILON,
];

/** Any value of the wrong kind, given the length an array argument should have. */
export function hostileValues(length: number): unknown[] {
  const n = Math.max(length, 1);
  return [
    undefined, null, true, 'a string', '3', 10n, Symbol('s'), () => 1, {}, [], [1, 2, 3], Array.from({ length: n }, () => 0),
    { valueOf: () => 3 }, new Proxy({}, { get() { throw new Error(HOSTILE_GETTER); } }),
    new Float64Array(n), new Int32Array(n), new Uint8Array(n * 4), new Float32Array(0), new Float32Array(n + 1), new Float32Array(n - 1),
    new DataView(new ArrayBuffer(n * 4)), new ArrayBuffer(n * 4), detachedFloat32(n), new Int32Array(new SharedArrayBuffer(n * 4)),
    ...badNumbers,
  ];
}

/** Dimensions whose products overflow 32-bit, 53-bit and 64-bit integers. */
export const overflowDimensions: readonly number[] = [2 ** 16 + 1, 2 ** 31 - 1, 2 ** 32 + 1, 2 ** 40, 2 ** 52, 3037000500];

const kilnMessage = /^kiln(?:\.[A-Za-z]| plan: )/;

/**
 * Runs a call that may legitimately succeed or fail; a failure must be an
 * Error with a kiln message (or the hostile getter's own error). Returns
 * 'ok' or 'threw'; anything else throws an assertion error with the details.
 */
export function expectCleanOutcome(describe: () => string, call: () => unknown): 'ok' | 'threw' {
  try {
    call();
    return 'ok';
  } catch (error) {
    checkError(describe, error);
    return 'threw';
  }
}

export function checkError(describe: () => string, error: unknown): void {
  if (!(error instanceof Error)) throw new Error(`${describe()}: threw a non-Error ${String(error)}`);
  if (error.message === HOSTILE_GETTER) return;
  if (!kilnMessage.test(error.message) || error.message.length > 600) {
    throw new Error(`${describe()}: unclear error message ${JSON.stringify(error.message)}`);
  }
}

/** A short printable description of a value for failure reports. */
export function show(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'function';
  if (ArrayBuffer.isView(value)) {
    const shared = value.buffer instanceof SharedArrayBuffer ? 'shared ' : '';
    const length = (value as unknown as { length?: number }).length ?? value.byteLength;
    return `${shared}${value.constructor.name}(${length})${value.byteLength === 0 && value.buffer.byteLength === 0 ? ' (maybe detached)' : ''}`;
  }
  if (value instanceof ArrayBuffer) return `ArrayBuffer(${value.byteLength})`;
  if (typeof value === 'object') {
    try {
      return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))?.slice(0, 300) ?? 'object';
    } catch {
      return 'object';
    }
  }
  return String(value);
}

/** numRuns for fast-check, scaled down by KILN_FUZZ_SCALE (e.g. 0.2 under sanitizers). */
export function runs(base: number): number {
  const scale = Number(process.env.KILN_FUZZ_SCALE ?? '1');
  return Math.max(5, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

export { fc };
