import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tensor } from '../../lib/tensor';
import { decodeSafetensors, MAX_HEADER_BYTES, readSafetensors, writeSafetensors } from '../../lib/io/safetensors';

function tempDir(t: { teardown(fn: () => void): unknown }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-safetensors-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function bytesOf(data: Float32Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** A safetensors file from a header string and raw data, built by hand like another tool would. */
function handBuilt(header: string, data: Buffer): Buffer {
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
  return Buffer.concat([length, Buffer.from(header), data]);
}

function f32(...values: number[]): Buffer {
  return bytesOf(Float32Array.from(values));
}

t.test('round trip of several tensors and metadata, bit for bit', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'weights.safetensors');
  const odd = Float32Array.of(NaN, -0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38);
  const tensors = {
    'conv1.kernel': { shape: [5, 5, 1, 6], data: Float32Array.from({ length: 150 }, (_, i) => Math.sin(i) * 0.1) },
    'conv1.bias': { shape: [6], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
    'dense.odd': { shape: [2, 3], data: odd },
    scalar: { shape: [], data: Float32Array.of(42) },
    empty: { shape: [0, 3], data: new Float32Array(0) },
    // A view into a larger buffer with a non-zero byte offset.
    view: { shape: [3], data: new Float32Array(new ArrayBuffer(64), 20, 3).fill(7.5) },
    constructor: { shape: [1], data: Float32Array.of(-1) },
  };
  const metadata = { format: 'kiln', epoch: '3', 'unicode ✓': 'δ' };
  writeSafetensors(file, tensors, metadata);
  t.same(fs.readdirSync(dir), ['weights.safetensors'], 'written atomically, no temporary left');
  const read = readSafetensors(file);
  t.same(read.metadata, metadata);
  t.same(Object.keys(read.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, tensor] of Object.entries(tensors)) {
    t.same(read.tensors[name].shape, tensor.shape, `${name} shape`);
    t.ok(read.tensors[name].data instanceof Float32Array);
    t.ok(bytesOf(read.tensors[name].data).equals(bytesOf(tensor.data)), `${name} bytes`);
  }
  const decoded = decodeSafetensors(fs.readFileSync(file), file);
  t.ok(bytesOf(decoded.tensors['conv1.kernel'].data).equals(bytesOf(tensors['conv1.kernel'].data)), 'in-memory decoding agrees');
  writeSafetensors(file, { only: new Tensor(Float32Array.of(1, 2), [1, 2]) });
  t.same(Array.from(readSafetensors(file).tensors.only.data), [1, 2], 'kiln Tensors can be written directly');
  t.same(readSafetensors(file).metadata, {}, 'metadata is optional');
});

t.test('the byte layout is the reference one: length, padded JSON header, name-ordered data', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'layout.safetensors');
  writeSafetensors(file, { b: { shape: [1, 1], data: Float32Array.of(3) }, a: { shape: [2], data: Float32Array.of(1, 2) } }, { format: 'pt' });
  const headerJson =
    '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}';
  const padded = headerJson + ' '.repeat((8 - (headerJson.length % 8)) % 8);
  const expected = handBuilt(padded, Buffer.concat([f32(1, 2), f32(3)]));
  const actual = fs.readFileSync(file);
  t.equal(actual.readBigUInt64LE(0), BigInt(padded.length), 'little-endian header length');
  t.equal(padded.length % 8, 0);
  t.equal(actual.subarray(8, 8 + padded.length).toString(), padded, 'header JSON');
  t.ok(actual.equals(expected), 'whole file equals the hand-built one');
  t.same([...actual.subarray(actual.length - 4)], [0x00, 0x00, 0x40, 0x40], '3.0f little-endian');
});

t.test("files written by other tools (unpadded header, any key order) read back", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'other.safetensors');
  const header = '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[4,20]},"b":{"data_offsets":[0,4],"shape":[1],"dtype":"F32"},"__metadata__":{"k":"v"}}';
  fs.writeFileSync(file, handBuilt(header, Buffer.concat([f32(9), f32(1, 2, 3, 4)])));
  const { tensors, metadata } = readSafetensors(file);
  t.same(metadata, { k: 'v' });
  t.same(Array.from(tensors.b.data), [9]);
  t.same(tensors.w.shape, [2, 2]);
  t.same(Array.from(tensors.w.data), [1, 2, 3, 4]);
});

t.test('corrupt files fail with the file name and the problem', async (t) => {
  const dir = tempDir(t);
  let n = 0;
  const attempt = (bytes: Buffer, pattern: RegExp) => {
    const file = path.join(dir, `case-${n++}.safetensors`);
    fs.writeFileSync(file, bytes);
    const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    t.throws(() => readSafetensors(file), new RegExp(`^kiln.readSafetensors: ${escaped}`), `names the file (${pattern})`);
    t.throws(() => readSafetensors(file), pattern);
    t.throws(() => decodeSafetensors(bytes, 'mem'), pattern, `decode agrees (${pattern})`);
  };
  const good = (name = 'x', offsets = '[0,8]', shape = '[2]', dtype = 'F32') =>
    `{"${name}":{"dtype":"${dtype}","shape":${shape},"data_offsets":${offsets}}}`;
  const data = f32(1, 2);

  attempt(Buffer.from([1, 0, 0]), /holds 3 bytes, fewer than the 8-byte header length/);
  const valid = handBuilt(good(), data);
  attempt(valid.subarray(0, valid.length - 3), /tensor 'x' has data_offsets \[0, 8\] outside the 5 bytes of data/);
  attempt(valid.subarray(0, 20), /the header length \d+ exceeds the 12 bytes after the length field/);
  const huge = Buffer.from(valid);
  huge.writeBigUInt64LE(0xffffffffffffffffn);
  attempt(huge, /the header length 18446744073709551615 exceeds the 104857600-byte limit/);
  const overCap = Buffer.from(valid);
  overCap.writeBigUInt64LE(BigInt(MAX_HEADER_BYTES + 1));
  attempt(overCap, /exceeds the 104857600-byte limit/);
  attempt(handBuilt('{"x": {"dtype": "F32", ', data), /the header is not valid JSON/);
  attempt(handBuilt('[1, 2, 3, 4, 5]', data), /the header is not a JSON object/);
  attempt(handBuilt('null    ', data), /the header is not a JSON object/);
  const badUtf8 = Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d, 0x20]);
  attempt(Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]), badUtf8]), /the header is not valid UTF-8/);
  attempt(handBuilt(good('x', '[0,16]'), data), /tensor 'x' has data_offsets \[0, 16\] outside the 8 bytes of data/);
  attempt(handBuilt(good('x', '[8,0]'), data), /outside the 8 bytes of data/);
  attempt(handBuilt(good('x', '[0,-8]'), data), /data_offsets \[0,-8\], not \[begin, end\] of non-negative integers/);
  attempt(handBuilt(good('x', '[0]'), data), /not \[begin, end\]/);
  attempt(
    handBuilt('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data),
    /tensor 'b' at \[4, 8\] overlaps the previous tensor, which ends at 8/,
  );
  attempt(
    handBuilt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', data),
    /overlaps/,
  );
  attempt(handBuilt(good('x', '[4,8]', '[1]'), data), /bytes 0..4 of data belong to no tensor \(before 'x'\)/);
  attempt(handBuilt(good('x', '[0,4]', '[1]'), data), /the tensors cover 4 bytes but the data holds 8/);
  attempt(handBuilt(good('x', '[0,8]', '[4]', 'F16'), data), /tensor 'x' has dtype F16; kiln reads only F32 tensors/);
  attempt(handBuilt(good('x', '[0,8]', '[2]', 'Q4'), data), /dtype Q4 \(not a safetensors dtype\)/);
  attempt(handBuilt('{"x":{"shape":[2],"data_offsets":[0,8]}}', data), /tensor 'x' has no dtype/);
  attempt(handBuilt(good('x', '[0,8]', '[3]'), data), /tensor 'x' has shape \[3\] \(12 bytes of F32\) but data_offsets \[0, 8\] span 8 bytes/);
  attempt(handBuilt(good('x', '[0,8]', '[2.5]'), data), /shape \[2.5\], not a list of non-negative integers/);
  attempt(handBuilt(good('x', '[0,8]', '"2"'), data), /shape "2", not a list/);
  attempt(handBuilt('{"x":[1,2]}', data), /tensor 'x' is not an object/);
  attempt(handBuilt(`{"__metadata__":{"a":1},${good().slice(1)}`, data), /metadata 'a' is not a string/);
  attempt(handBuilt(`{"__metadata__":[],${good().slice(1)}`, data), /'__metadata__' is not an object of strings/);
  attempt(handBuilt(`{"__proto__":{"polluted":"yes"},${good().slice(1)}`, data), /reserved key '__proto__'/);
  attempt(handBuilt(`{"__metadata__":{"__proto__":"x"},${good().slice(1)}`, data), /reserved key '__proto__'/);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  t.throws(() => readSafetensors(path.join(dir, 'absent.safetensors')), /kiln.readSafetensors: cannot open .*absent.safetensors/);
});

t.test('writing validates names, shapes and metadata and leaves no file on error', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'w.safetensors');
  t.throws(() => writeSafetensors(file, { x: { shape: [3], data: Float32Array.of(1, 2) } }), /kiln.writeSafetensors: tensor 'x' has shape \[3\] \(3 values\) but 2 values/);
  t.throws(() => writeSafetensors(file, { x: { shape: [-1], data: Float32Array.of(1) } }), /expected a shape of non-negative integers for tensor 'x'/);
  t.throws(() => writeSafetensors(file, { x: { shape: [1], data: [1] as never } }), /expected \{ shape, data: Float32Array \} for tensor 'x'/);
  t.throws(() => writeSafetensors(file, { __metadata__: { shape: [1], data: Float32Array.of(1) } }), /a tensor name other than/);
  t.throws(() => writeSafetensors(file, { x: { shape: [1], data: Float32Array.of(1) } }, { epoch: 3 as never }), /expected a string for metadata 'epoch' but received number/);
  t.same(fs.readdirSync(dir), []);
});
