// save -> load round trips, resumable optimizer state, and clear errors for
// damaged files.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as L from '../../lib/layers';
import { loadModel } from '../../lib/model/serialization';
import { model } from '../../lib/model/model';
import { lenet5 } from '../../lib/model/zoo';
import { Tensor } from '../../lib/tensor';
import { sgd } from '../../lib/train/optimizers';
import { createRandom } from '../../lib/data/random';

function randomTensor(shape: number[], seed: number): Tensor {
  const random = createRandom(seed);
  return new Tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.nextFloat()), shape);
}
const labels = (count: number, seed: number) => {
  const random = createRandom(seed);
  return Int32Array.from({ length: count }, () => random.nextInt(10));
};

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-save-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('save -> load gives identical predictions, for sequential and functional models', async (t) => {
  const dir = tempDir(t);
  const m = lenet5({ seed: 3 });
  m.compile({ optimizer: sgd({ learningRate: 0.01, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
  const x = randomTensor([12, 28, 28, 1], 1);
  await m.fit({ x, y: labels(12, 2) }, { epochs: 2, batchSize: 4, verbose: 0 });
  await m.save(path.join(dir, 'lenet'));
  t.ok(fs.existsSync(path.join(dir, 'lenet', 'model.json')));
  t.ok(fs.existsSync(path.join(dir, 'lenet', 'weights-000001.safetensors')));
  await m.save(path.join(dir, 'lenet'));
  t.same(fs.readdirSync(path.join(dir, 'lenet')).sort(), ['model.json', 'weights-000002.safetensors'], 'older weights are removed');
  const loaded = await loadModel(path.join(dir, 'lenet'));
  t.same([...(await loaded.predict(x)).data], [...(await m.predict(x)).data]);
  t.equal(loaded.countParams(), 61706);

  const input = L.input({ shape: [6, 6, 2] });
  const a = L.conv2d({ name: 'a', filters: 3, kernelSize: 3, padding: 'same' }).apply(input);
  const bn = L.batchNormalization({ name: 'bn' }).apply(a);
  const sum = L.add({ name: 'sum', activation: 'relu' }).apply([a, bn]);
  const out = L.dense({ name: 'out', units: 10, activation: 'softmax' }).apply(L.flatten({ name: 'f' }).apply(sum));
  const f = model({ inputs: input, outputs: out, seed: 5 });
  f.compile({ optimizer: 'adam', loss: 'softmaxCrossEntropy' });
  const fx = randomTensor([8, 6, 6, 2], 4);
  await f.fit({ x: fx, y: labels(8, 5) }, { epochs: 3, batchSize: 4, verbose: 0 });
  await f.save(path.join(dir, 'functional'));
  const g = await loadModel(path.join(dir, 'functional'));
  const expected = await f.predict(fx);
  t.same([...(await g.predict(fx)).data], [...expected.data]);
  const rowSum = expected.data.slice(0, 10).reduce((s, v) => s + v, 0);
  t.ok(Math.abs(rowSum - 1) < 1e-5, 'a softmax output layer predicts probabilities');
});

t.test('training resumed from a checkpoint continues exactly', async (t) => {
  const dir = tempDir(t);
  const x = randomTensor([16, 28, 28, 1], 7);
  const y = labels(16, 8);
  const straight = lenet5({ seed: 1 });
  straight.compile({ optimizer: sgd({ learningRate: 0.02, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
  for (let i = 0; i < 6; i++) await straight.trainOnBatch(x, y);

  const first = lenet5({ seed: 1 });
  first.compile({ optimizer: sgd({ learningRate: 0.02, momentum: 0.9 }), loss: 'softmaxCrossEntropy' });
  for (let i = 0; i < 3; i++) await first.trainOnBatch(x, y);
  await first.save(dir);
  const resumed = await loadModel(dir);
  t.equal(resumed.updates, 3);
  for (let i = 0; i < 3; i++) await resumed.trainOnBatch(x, y);
  for (const [key, value] of straight.getWeights()) t.same([...resumed.getWeights().get(key)!], [...value], key);
});

t.test('damaged files give clear errors naming the file', async (t) => {
  const dir = tempDir(t);
  const m = lenet5();
  await m.save(dir);
  const weights = path.join(dir, 'weights-000001.safetensors');
  const json = path.join(dir, 'model.json');
  const goodWeights = fs.readFileSync(weights);
  const goodJson = fs.readFileSync(json, 'utf8');

  fs.writeFileSync(weights, goodWeights.subarray(0, goodWeights.length - 100));
  await t.rejects(loadModel(dir), new RegExp(weights.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  fs.writeFileSync(weights, goodWeights);

  fs.writeFileSync(json, goodJson.slice(0, 50));
  await t.rejects(loadModel(dir), /model\.json: not valid JSON/);
  fs.writeFileSync(json, JSON.stringify({ format: 'something' }));
  await t.rejects(loadModel(dir), /not a kiln model/);
  const saved = JSON.parse(goodJson);
  saved.nodes[1].config.filters = 7;
  fs.writeFileSync(json, JSON.stringify(saved));
  await t.rejects(loadModel(dir), /weight 'conv1\/kernel' has shape \[5, 5, 1, 6\] but layer 'conv1' needs \[5, 5, 1, 7\]/);
  const unknown = JSON.parse(goodJson);
  unknown.nodes[1].className = 'Conv9D';
  fs.writeFileSync(json, JSON.stringify(unknown));
  await t.rejects(loadModel(dir), /unknown layer class 'Conv9D'/);
  await t.rejects(loadModel(path.join(dir, 'missing')), /cannot read it/);
});

t.test('a failed save leaves the previous checkpoint loadable', async (t) => {
  const dir = tempDir(t);
  const x = randomTensor([3, 28, 28, 1], 9);
  const m = lenet5({ seed: 1 });
  await m.save(dir);
  const expected = [...(await m.predict(x)).data];
  // Make the swap of model.json fail after the new weights file is written:
  // a read-only model.json cannot be replaced when it is a directory.
  const json = path.join(dir, 'model.json');
  const goodJson = fs.readFileSync(json);
  fs.rmSync(json);
  fs.mkdirSync(json);
  await t.rejects(lenet5({ seed: 2 }).save(dir));
  fs.rmSync(json, { recursive: true });
  fs.writeFileSync(json, goodJson);
  t.same([...(await (await loadModel(dir)).predict(x)).data], expected, 'the old model.json still names the old, complete weights');
});
