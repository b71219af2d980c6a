// The safetensors format (Hugging Face), so weights saved by kiln load in
// PyTorch, JAX, Candle and friends, and theirs load here:
//   8 bytes      N, the header length, unsigned little-endian 64-bit
//   N bytes      UTF-8 JSON: { "__metadata__": { string: string },
//                              name: { "dtype": "F32", "shape": [...], "data_offsets": [begin, end] }, ... }
//                padded with spaces so the data starts 8-byte aligned
//   the rest     tensor bytes, little-endian, offsets relative to the end of the header
// Tensors must tile the data exactly: sorted by offset, each starts where the
// previous ends, no gaps, no overlaps, nothing after the last one.
// A file read is treated as untrusted input: every field is checked against
// the file's real size before any allocation, and errors name the file.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { writeFileAtomic } from './atomic-write';

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** What writing accepts: anything with a shape and a Float32Array, kiln's Tensor included. */
export interface TensorLike {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export type TensorMap = Record<string, NamedTensor>;
export type WritableTensorMap = Record<string, TensorLike>;

export interface SafetensorsContents {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

/** Headers larger than this are refused before being read (real ones are kilobytes). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const METADATA_KEY = '__metadata__';
const F32_BYTES = 4;
const LITTLE_ENDIAN = os.endianness() === 'LE';
const KNOWN_DTYPES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64']);

function corrupt(source: string, problem: string): Error {
  return new Error(`kiln.readSafetensors: ${source} is not a valid safetensors file: ${problem}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dimension of shape) count *= dimension;
  return count;
}

/** Bytes of a Float32Array in little-endian order (a view when the host is little-endian). */
function littleEndianBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const bytes = new Uint8Array(data.byteLength);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * F32_BYTES, data[i], true);
  return bytes;
}

function checkWritable(tensors: WritableTensorMap, metadata: Record<string, string> | undefined): string[] {
  const fn = 'kiln.writeSafetensors';
  if (!isPlainObject(tensors)) throw new TypeError(`${fn}: expected an object of named tensors for 'tensors'`);
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    if (name === '' || name === METADATA_KEY || name === '__proto__') {
      throw new RangeError(`${fn}: expected a tensor name other than '', '${METADATA_KEY}' and '__proto__' for 'tensors' but received '${name}'`);
    }
    const tensor = tensors[name];
    if (!isPlainObject(tensor) || !(tensor.data instanceof Float32Array)) {
      throw new TypeError(`${fn}: expected { shape, data: Float32Array } for tensor '${name}'`);
    }
    const { shape } = tensor;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new RangeError(`${fn}: expected a shape of non-negative integers for tensor '${name}' but received ${JSON.stringify(shape)}`);
    }
    if (elementCount(shape) !== tensor.data.length) {
      throw new RangeError(`${fn}: tensor '${name}' has shape [${shape.join(', ')}] (${elementCount(shape)} values) but ${tensor.data.length} values`);
    }
  }
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw new TypeError(`${fn}: expected an object of strings for 'metadata'`);
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new TypeError(`${fn}: expected a string for metadata '${key}' but received ${typeof value}`);
      if (key === '__proto__') throw new RangeError(`${fn}: '__proto__' cannot be a metadata key`);
    }
  }
  return names;
}

/**
 * The file's bytes as chunks (length, header, then each tensor's data without
 * copying on little-endian hosts). Tensors are stored in name order, as the
 * reference Python writer does for a single dtype.
 */
export function encodeSafetensors(tensors: WritableTensorMap, metadata?: Record<string, string>): Uint8Array[] {
  const names = checkWritable(tensors, metadata);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header[METADATA_KEY] = { ...metadata };
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors[name];
    const end = offset + data.length * F32_BYTES;
    header[name] = { dtype: 'F32', shape: [...shape], data_offsets: [offset, end] };
    offset = end;
  }
  let json = JSON.stringify(header);
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(headerBytes.length));
  return [length, headerBytes, ...names.map((name) => littleEndianBytes(tensors[name].data))];
}

/** Writes tensors (all F32) and optional string metadata to `file`, atomically. */
export function writeSafetensors(file: string, tensors: WritableTensorMap, metadata?: Record<string, string>): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

interface TensorEntry {
  name: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Validates a parsed header against the data length; returns the entries sorted by offset. */
function parseHeader(headerBytes: Uint8Array, dataLength: number, source: string): { entries: TensorEntry[]; metadata: Record<string, string> } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw corrupt(source, 'the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw corrupt(source, `the header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(header)) throw corrupt(source, 'the header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  // JSON.parse makes '__proto__' an own key; never assign it onto a normal object.
  for (const name of Object.keys(header)) {
    const value = header[name];
    if (name === '__proto__') throw corrupt(source, "the header uses the reserved key '__proto__'");
    if (name === METADATA_KEY) {
      if (!isPlainObject(value)) throw corrupt(source, `'${METADATA_KEY}' is not an object of strings`);
      for (const key of Object.keys(value)) {
        if (key === '__proto__') throw corrupt(source, "the metadata uses the reserved key '__proto__'");
        if (typeof value[key] !== 'string') throw corrupt(source, `metadata '${key}' is not a string`);
        metadata[key] = value[key] as string;
      }
      continue;
    }
    if (!isPlainObject(value)) throw corrupt(source, `tensor '${name}' is not an object`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string') throw corrupt(source, `tensor '${name}' has no dtype`);
    if (dtype !== 'F32') {
      const known = KNOWN_DTYPES.has(dtype) ? '' : ' (not a safetensors dtype)';
      throw new Error(`kiln.readSafetensors: ${source}: tensor '${name}' has dtype ${dtype}${known}; kiln reads only F32 tensors`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw corrupt(source, `tensor '${name}' has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw corrupt(source, `tensor '${name}' has data_offsets ${JSON.stringify(offsets)}, not [begin, end] of non-negative integers`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end || end > dataLength) {
      throw corrupt(source, `tensor '${name}' has data_offsets [${begin}, ${end}] outside the ${dataLength} bytes of data`);
    }
    const expected = elementCount(shape) * F32_BYTES;
    if (expected !== end - begin) {
      throw corrupt(source, `tensor '${name}' has shape [${shape.join(', ')}] (${expected} bytes of F32) but data_offsets [${begin}, ${end}] span ${end - begin} bytes`);
    }
    entries.push({ name, shape: shape as number[], begin, end });
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let position = 0;
  for (const entry of entries) {
    if (entry.begin < position) throw corrupt(source, `tensor '${entry.name}' at [${entry.begin}, ${entry.end}] overlaps the previous tensor, which ends at ${position}`);
    if (entry.begin > position) throw corrupt(source, `bytes ${position}..${entry.begin} of data belong to no tensor (before '${entry.name}')`);
    position = entry.end;
  }
  if (position !== dataLength) throw corrupt(source, `the tensors cover ${position} bytes but the data holds ${dataLength}`);
  return { entries, metadata };
}

function readHeaderLength(prefix: Uint8Array, fileSize: number, source: string): number {
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) throw corrupt(source, `the header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (length > BigInt(fileSize - 8)) throw corrupt(source, `the header length ${length} exceeds the ${fileSize - 8} bytes after the length field`);
  if (length < 2n) throw corrupt(source, `the header length ${length} is too short for a JSON object`);
  return Number(length);
}

function toFloat32(bytes: Uint8Array, count: number): Float32Array {
  const data = new Float32Array(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(data.buffer).set(bytes);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * F32_BYTES, true);
  }
  return data;
}

/** Decodes a whole safetensors file held in memory; `source` names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, source = 'the buffer'): SafetensorsContents {
  if (bytes.length < 8) throw corrupt(source, `it holds ${bytes.length} bytes, fewer than the 8-byte header length`);
  const headerLength = readHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const dataStart = 8 + headerLength;
  const { entries, metadata } = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, source);
  const tensors: TensorMap = {};
  for (const { name, shape, begin, end } of entries) {
    tensors[name] = { shape, data: toFloat32(bytes.subarray(dataStart + begin, dataStart + end), (end - begin) / F32_BYTES) };
  }
  return { tensors, metadata };
}

function readExactly(fd: number, target: Uint8Array, position: number, source: string): void {
  let done = 0;
  while (done < target.byteLength) {
    const read = fs.readSync(fd, target, done, target.byteLength - done, position + done);
    if (read === 0) throw corrupt(source, `the file ended early at byte ${position + done}`);
    done += read;
  }
}

/**
 * Reads a safetensors file of F32 tensors. The header is validated against the
 * file size before anything is allocated, and each tensor is read straight
 * into its own Float32Array.
 */
export function readSafetensors(file: string): SafetensorsContents {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    throw new Error(`kiln.readSafetensors: cannot open ${file}: ${(error as Error).message}`);
  }
  try {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < 8) throw corrupt(file, `it holds ${fileSize} bytes, fewer than the 8-byte header length`);
    const prefix = new Uint8Array(8);
    readExactly(fd, prefix, 0, file);
    const headerLength = readHeaderLength(prefix, fileSize, file);
    const headerBytes = new Uint8Array(headerLength);
    readExactly(fd, headerBytes, 8, file);
    const dataStart = 8 + headerLength;
    const { entries, metadata } = parseHeader(headerBytes, fileSize - dataStart, file);
    const tensors: TensorMap = {};
    for (const { name, shape, begin, end } of entries) {
      const data = new Float32Array((end - begin) / F32_BYTES);
      const bytes = new Uint8Array(data.buffer);
      readExactly(fd, bytes, dataStart + begin, file);
      if (!LITTLE_ENDIAN) data.set(toFloat32(bytes, data.length));
      tensors[name] = { shape, data };
    }
    return { tensors, metadata };
  } finally {
    fs.closeSync(fd);
  }
}
