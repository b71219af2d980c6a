// Fuzzes the file readers with truncated files, wrong magic numbers, headers
// that declare huge sizes and plain random bytes: IDX, CIFAR-10 batches,
// safetensors and saved models (model.json + weights). Every failure must be
// a kiln error naming the file, nothing may allocate from a size the file
// merely declares, and nothing may hang.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { parseIdx, readIdxImages, readIdxLabels, loadCifar10, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC } from '../../lib/data';
import { decodeSafetensors, encodeSafetensors, readSafetensors } from '../../lib/io';
import { loadModel } from '../../lib/model/serialization';
import { lenet5 } from '../../lib/model/zoo';
import * as L from '../../lib/layers';
import { model } from '../../lib/model/model';
import { Tensor } from '../../lib/tensor';
import { checkError, fc, runs, show } from './hostile';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-fuzz-files-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
function writeTemp(bytes: Uint8Array, name = 'file'): string {
  const file = path.join(dir, `${name}-${fileCounter++}`);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Runs a reader that must either succeed or throw a kiln error; checks the memory it kept. */
function expectClean(describe: () => string, read: () => unknown): 'ok' | 'threw' {
  try {
    read();
    return 'ok';
  } catch (error) {
    checkError(describe, error);
    return 'threw';
  }
}

function idxBytes(magic: number, dims: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  view.setUint32(0, (magic & 0xffffff00) | dims.length, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d >>> 0, false));
  return Buffer.concat([header, data]);
}
const validImages = idxBytes(IDX_IMAGES_MAGIC, [3, 4, 5], Uint8Array.from({ length: 60 }, (_, i) => (i * 37) & 255));
const validLabels = idxBytes(IDX_LABELS_MAGIC, [6], Uint8Array.from([0, 1, 2, 9, 4, 5]));

/** Byte-level mutations: truncate, extend, flip, overwrite a header word with a huge value. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('word' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 0x80000000, 0x00000803, 0x00000801) }),
  fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ maxLength: 200 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(bytes: Uint8Array, m: Mutation, wordLimit = 64): Uint8Array {
  const copy = Uint8Array.from(bytes);
  switch (m.kind) {
    case 'truncate':
      return copy.subarray(0, m.at % (copy.length + 1));
    case 'append':
      return Buffer.concat([copy, m.bytes]);
    case 'flip':
      if (copy.length) copy[m.at % copy.length] = m.value;
      return copy;
    case 'word': {
      if (copy.length >= 4) new DataView(copy.buffer).setUint32(((m.at % Math.min(wordLimit, copy.length - 3)) >> 2) << 2, m.value, false);
      return copy;
    }
    case 'random':
      return m.bytes;
  }
}

function arrayBufferBytes(): number {
  return process.memoryUsage().arrayBuffers;
}

t.test('IDX: mutated and random files give kiln errors and allocate nothing from declared sizes', async (t) => {
  const start = arrayBufferBytes();
  let threw = 0;
  fc.assert(
    fc.property(fc.boolean(), mutation, (images, m) => {
      const bytes = mutate(images ? validImages : validLabels, m, 16);
      const describe = () => `parseIdx(${m.kind} ${show(m)})`;
      if (expectClean(describe, () => parseIdx(bytes, 'fuzz.idx', images ? IDX_IMAGES_MAGIC : IDX_LABELS_MAGIC)) === 'threw') threw++;
      expectClean(describe, () => parseIdx(bytes, 'fuzz.idx'));
    }),
    { numRuns: runs(3000), seed: 17 },
  );
  t.ok(threw > 0);
  // Files on disk (plain and gzipped) through the public readers.
  fc.assert(
    fc.property(fc.boolean(), fc.boolean(), mutation, (images, gzip, m) => {
      let bytes = mutate(images ? validImages : validLabels, m, 16);
      if (gzip) bytes = zlib.gzipSync(bytes);
      const file = writeTemp(bytes, 'idx');
      expectClean(() => `${images ? 'readIdxImages' : 'readIdxLabels'}(${m.kind}${gzip ? ', gzipped' : ''})`, () => (images ? readIdxImages(file) : readIdxLabels(file)));
      fs.rmSync(file);
    }),
    { numRuns: runs(400), seed: 19 },
  );
  // A header declaring 2^32-1 x 2^32-1 x 2^32-1 images over 12 bytes of data.
  const huge = idxBytes(IDX_IMAGES_MAGIC, [0xffffffff, 0xffffffff, 0xffffffff], new Uint8Array(12));
  t.throws(() => readIdxImages(writeTemp(huge)), /truncated/);
  const corruptGzip = zlib.gzipSync(validImages).subarray(0, 20);
  t.throws(() => readIdxImages(writeTemp(corruptGzip)), /kiln.readIdxImages: .* does not unzip/);
  t.ok(arrayBufferBytes() - start < 64 * 1024 * 1024, `array buffers grew by ${((arrayBufferBytes() - start) / 1e6).toFixed(1)} MB`);
});

t.test('CIFAR-10: wrong sizes, bad labels and random bytes', async (t) => {
  const record = 3073;
  const valid = new Uint8Array(2 * record);
  valid[record] = 7;
  t.equal(loadCifar10(writeTemp(valid, 'cifar'), 'test').count, 2);
  fc.assert(
    fc.property(mutation, (m) => {
      const bytes = mutate(valid, m);
      const file = writeTemp(bytes, 'cifar');
      expectClean(() => `loadCifar10(${m.kind})`, () => loadCifar10(file, 'train'));
      fs.rmSync(file);
    }),
    { numRuns: runs(300), seed: 23 },
  );
  t.throws(() => loadCifar10(writeTemp(new Uint8Array(record - 1), 'cifar'), 'test'), /not a positive multiple/);
  const badLabel = new Uint8Array(record);
  badLabel[0] = 200;
  t.throws(() => loadCifar10(writeTemp(badLabel, 'cifar'), 'test'), /label 200/);
  t.throws(() => loadCifar10(path.join(dir, 'missing'), 'test'), /cannot find/);
  t.throws(() => loadCifar10(dir, 'nope' as 'test'), /expected 'train' or 'test'/);
});

function concat(chunks: Uint8Array[]): Uint8Array {
  return Buffer.concat(chunks);
}

t.test('safetensors: mutated files, oversized headers, random bytes', async (t) => {
  const valid = concat(encodeSafetensors({ a: { shape: [2, 3], data: new Float32Array(6).fill(1.5) }, b: { shape: [4], data: Float32Array.from([1, 2, 3, 4]) } }, { note: 'x' }));
  t.same(decodeSafetensors(valid).tensors.b.data, Float32Array.from([1, 2, 3, 4]));
  const start = arrayBufferBytes();
  fc.assert(
    fc.property(mutation, (m) => {
      const bytes = mutate(valid, m);
      expectClean(() => `decodeSafetensors(${m.kind} ${show(m)})`, () => decodeSafetensors(bytes, 'fuzz.safetensors'));
    }),
    { numRuns: runs(3000), seed: 29 },
  );
  // JSON-level mutations of the header: shapes, offsets and dtypes that lie.
  const headerLength = Number(new DataView(valid.buffer, valid.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(valid.subarray(8, 8 + headerLength)).toString('utf8'));
  const data = valid.subarray(8 + headerLength);
  const lies = [[2 ** 53, 2], [-1], [1.5], 'F32', [0, 2 ** 60], [24, 0], [0, 24], [0], null, {}, 'F16', 'BOGUS', ['1'], [2 ** 31, 2 ** 31, 2 ** 31]];
  fc.assert(
    fc.property(fc.constantFrom('a', 'b', '__metadata__'), fc.constantFrom('shape', 'data_offsets', 'dtype', 'note', '__proto__'), fc.constantFrom(...lies), (tensor, field, value) => {
      const edited = JSON.parse(JSON.stringify(header));
      if (edited[tensor] && typeof edited[tensor] === 'object') edited[tensor][field] = value;
      const text = Buffer.from(JSON.stringify(edited));
      const prefix = new Uint8Array(8);
      new DataView(prefix.buffer).setBigUint64(0, BigInt(text.length), true);
      const bytes = concat([prefix, text, data]);
      expectClean(() => `safetensors header ${tensor}.${field} = ${show(value)}`, () => decodeSafetensors(bytes));
      expectClean(() => `readSafetensors header ${tensor}.${field} = ${show(value)}`, () => {
        const file = writeTemp(bytes, 'st');
        try {
          readSafetensors(file);
        } finally {
          fs.rmSync(file);
        }
      });
    }),
    { numRuns: runs(300), seed: 31 },
  );
  // A header length of 2^64 - 1, and one of 99 MB over a 20-byte file.
  const huge = new Uint8Array(20);
  new DataView(huge.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
  t.throws(() => readSafetensors(writeTemp(huge)), /header length .* exceeds/);
  new DataView(huge.buffer).setBigUint64(0, 99n * 1024n * 1024n, true);
  t.throws(() => readSafetensors(writeTemp(huge)), /exceeds the 12 bytes/);
  t.throws(() => readSafetensors(writeTemp(valid.subarray(0, valid.length - 3))), /kiln.readSafetensors/);
  t.ok(arrayBufferBytes() - start < 64 * 1024 * 1024, 'no allocation from declared sizes');
});

t.test('saved models: mutated model.json, damaged weights, random bytes', async (t) => {
  const input = L.input({ shape: [5, 5, 1] });
  const conv = L.conv2d({ name: 'c', filters: 2, kernelSize: 3, activation: 'relu' }).apply(input);
  const out = L.dense({ name: 'd', units: 3, activation: 'softmax' }).apply(L.flatten({ name: 'f' }).apply(conv));
  const m = model({ inputs: input, outputs: out, seed: 2 });
  m.compile({ optimizer: 'adam', loss: 'softmaxCrossEntropy' });
  const x = new Tensor(Float32Array.from({ length: 2 * 25 }, (_, i) => (i % 7) / 7), [2, 5, 5, 1]);
  await m.trainOnBatch(x, Int32Array.from([0, 2]));
  const saved = path.join(dir, 'model');
  await m.save(saved);
  const json = JSON.parse(fs.readFileSync(path.join(saved, 'model.json'), 'utf8'));
  const weightsName: string = json.weights;
  const weights = fs.readFileSync(path.join(saved, weightsName));
  const expected = Array.from((await m.predict(x)).data);

  const jsonPaths: (string | number)[][] = [];
  const walk = (value: unknown, prefix: (string | number)[]) => {
    if (prefix.length) jsonPaths.push(prefix);
    if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...prefix, Array.isArray(value) ? Number(k) : k]);
  };
  walk(json, []);
  const values: unknown[] = [null, true, -1, 0, 1.5, 2 ** 31, 1e9, NaN, 'Dense', 'InputLayer', 'weights-000001.safetensors', '../x', '__proto__', [], {}, [1e6, 1e6, 1], [0, 5, 1], [-5], 'relu', 'nope'];
  let loaded = 0;
  // Every damaged model.json must give a kiln error: no gap is tolerated.
  const known: string[] = [];
  const isKnownGap = (_where: string, _error: unknown) => false;
  await fc.assert(
    fc.asyncProperty(fc.nat(jsonPaths.length - 1), fc.nat(values.length), async (pathIndex, valueIndex) => {
      const edited = JSON.parse(JSON.stringify(json));
      const target = jsonPaths[pathIndex];
      let parent = edited;
      for (const key of target.slice(0, -1)) parent = parent[key];
      if (valueIndex === values.length) delete parent[target[target.length - 1]];
      else parent[target[target.length - 1]] = values[valueIndex];
      const folder = fs.mkdtempSync(path.join(dir, 'm-'));
      fs.writeFileSync(path.join(folder, 'model.json'), JSON.stringify(edited));
      fs.writeFileSync(path.join(folder, weightsName), weights);
      const describe = () => `model.json ${target.join('.')} = ${valueIndex === values.length ? '(deleted)' : show(values[valueIndex])}`;
      try {
        const restored = await loadModel(folder);
        loaded++;
        try {
          await restored.predict(x);
        } catch (error) {
          checkError(() => `${describe()} then predict`, error);
        }
      } catch (error) {
        if (isKnownGap(describe(), error)) known.push(`${describe()}: ${(error as Error).message}`);
        else checkError(describe, error);
      } finally {
        fs.rmSync(folder, { recursive: true, force: true });
      }
    }),
    { numRuns: runs(400), seed: 37 },
  );
  t.ok(loaded > 0, `${loaded} harmless edits still loaded`);


  // Damaged weights files and random bytes as model.json.
  await fc.assert(
    fc.asyncProperty(mutation, fc.boolean(), async (m, damageJson) => {
      const folder = fs.mkdtempSync(path.join(dir, 'w-'));
      const jsonBytes = Buffer.from(JSON.stringify(json));
      fs.writeFileSync(path.join(folder, 'model.json'), damageJson ? mutate(jsonBytes, m) : jsonBytes);
      fs.writeFileSync(path.join(folder, weightsName), damageJson ? weights : mutate(weights, m));
      try {
        const restored = await loadModel(folder);
        // A flipped byte inside the float data is undetectable (no checksum):
        // the model loads, and predicts.
        await restored.predict(x);
      } catch (error) {
        const where = `${damageJson ? 'model.json' : 'weights'} ${m.kind} ${show(m)}`;
        if (damageJson && isKnownGap(where, error)) known.push(`${where}: ${(error as Error).message}`);
        else checkError(() => where, error);
      } finally {
        fs.rmSync(folder, { recursive: true, force: true });
      }
    }),
    { numRuns: runs(300), seed: 41 },
  );
  const gaps = new Set(known.map((line) => line.replace(/^.*?: /, '')));
  for (const gap of gaps) t.todo(`known gap in loadModel (${known.filter((k) => k.endsWith(gap)).length} cases, e.g. ${known.find((k) => k.endsWith(gap))})`, async () => {});
  const intact = await loadModel(saved);
  t.same(Array.from((await intact.predict(x)).data), expected, 'the intact folder still loads identically');
  await t.rejects(loadModel(path.join(dir, 'nowhere')), /kiln.loadModel: .*cannot read/);
  // The zoo models load from their own saves too (bigger graph, same checks).
  const zoo = lenet5({ seed: 1 });
  await zoo.save(path.join(dir, 'lenet'));
  t.equal((await loadModel(path.join(dir, 'lenet'))).countParams(), zoo.countParams());
});
