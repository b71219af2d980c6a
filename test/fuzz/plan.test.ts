// Fuzzes the native Plan class: its constructor gets a real spec (lowered
// from a small model with every op kind) with one field replaced, deleted or
// blown up; each accepted spec must then train and predict without crashing.
// Its methods get hostile arguments, overlapping calls, detached and shared
// buffers, and views of the plan's own memory.
import t from 'tap';
import * as L from '../../lib/layers';
import { model } from '../../lib/model/model';
import { lowerModel } from '../../lib/model/lowering';
import type { NativePlan, PlanAddon, PlanSpec } from '../../lib/model/plan-spec';
import { loadAddon } from '../../lib/native';
import { badNumbers, checkError, detachedFloat32, fc, hostileValues, overflowDimensions, runs, sharedFloat32, show } from './hostile';

const { Plan } = loadAddon<PlanAddon>();
const PlanCtor = Plan as unknown as new (spec: unknown) => NativePlan;

function baseSpec(): PlanSpec {
  const x = L.input({ shape: [6, 6, 2] });
  const a = L.conv2d({ name: 'a', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x);
  const b = L.batchNormalization({ name: 'bn' }).apply(a);
  const s = L.add({ name: 'sum' }).apply([a, b]);
  const p = L.maxPooling2d({ name: 'max', poolSize: 2 }).apply(s);
  const q = L.averagePooling2d({ name: 'avg', poolSize: 2 }).apply(s);
  const c = L.concatenate({ name: 'cat' }).apply([p, q]);
  const g = L.globalAveragePooling2d({ name: 'gap' }).apply(c);
  const d = L.dropout({ name: 'drop', rate: 0.3 }).apply(g);
  const h = L.dense({ name: 'hidden', units: 5, activation: 'tanh' }).apply(d);
  const out = L.dense({ name: 'out', units: 4, activation: 'softmax' }).apply(h);
  const m = model({ inputs: x, outputs: out, seed: 1 });
  return lowerModel(m.nodes, m.output, [...m.weightEntries], {
    maxBatch: 3,
    loss: 'softmaxCrossEntropy',
    optimizer: { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
    stripOutputSoftmax: true,
    seed: 1,
  }).spec;
}

const template = JSON.stringify(baseSpec());
const freshSpec = (): Record<string, unknown> => JSON.parse(template);
const inputSize = 6 * 6 * 2;

/** Every path into the spec (objects, arrays and leaves). */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (prefix.length) out.push(prefix);
  if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) paths(child, [...prefix, Array.isArray(value) ? Number(key) : key], out);
  }
  return out;
}
const specPaths = paths(freshSpec());

async function exercise(plan: NativePlan, describe: () => string): Promise<void> {
  // A spec the constructor accepted must run: train, evaluate, predict, read.
  const images = Float32Array.from({ length: 3 * inputSize }, (_, i) => Math.sin(i));
  const labels = Int32Array.from([0, 1, 3]);
  try {
    await plan.trainStep(images, labels, null, 3, 0.01);
    await plan.evaluate(images, labels, null, 2);
    await plan.predict(images, 1, new Float32Array(plan.paramOffsets().length >= 0 ? 4 : 0));
  } catch (error) {
    checkError(describe, error);
  }
}

t.test('the base spec builds and trains', async (t) => {
  const plan = new PlanCtor(freshSpec());
  const before = plan.parameters().slice();
  const result = await plan.trainStep(new Float32Array(3 * inputSize).fill(0.5), Int32Array.from([0, 1, 2]), null, 3, 0.01);
  t.ok(Number.isFinite(result.loss));
  t.notSame(plan.parameters(), before, 'the step updated the weights');
});

t.test('one spec field replaced by a hostile value, or deleted', async (t) => {
  const values = [...hostileValues(2), ...overflowDimensions, 'conv2d', 'dense', 'relu', 'adam', 'sgd', 'nope', -5, 1, 2, 7, 1e6];
  let accepted = 0;
  let refused = 0;
  await fc.assert(
    fc.asyncProperty(fc.nat(specPaths.length - 1), fc.nat(values.length), async (pathIndex, valueIndex) => {
      const spec = freshSpec();
      const path = specPaths[pathIndex];
      let parent = spec as Record<string | number, unknown>;
      for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
      const last = path[path.length - 1];
      const deleting = valueIndex === values.length;
      if (deleting) delete parent[last];
      else parent[last] = values[valueIndex];
      const describe = () => `spec.${path.join('.')} ${deleting ? 'deleted' : `= ${show(values[valueIndex])}`}`;
      let plan: NativePlan;
      try {
        plan = new PlanCtor(spec);
      } catch (error) {
        checkError(describe, error);
        refused++;
        return;
      }
      accepted++;
      await exercise(plan, describe);
    }),
    { numRuns: runs(1500), seed: 5 },
  );
  t.ok(refused > 0 && accepted > 0, `refused ${refused}, accepted ${accepted}`);
});

t.test('geometry fields set to sizes whose products overflow', async (t) => {
  const geometry = specPaths.filter((p) => ['conv', 'pool'].includes(String(p[p.length - 2])) || ['inFeatures', 'units', 'spatial', 'channels', 'size', 'maxBatch'].includes(String(p[p.length - 1])) || p[0] === 'bufferSampleSizes');
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom(...geometry), fc.constantFrom(...overflowDimensions, ...badNumbers, 1, 2, 3)), { minLength: 1, maxLength: 5 }), async (edits) => {
      const spec = freshSpec();
      for (const [path, value] of edits) {
        let parent = spec as Record<string | number, unknown>;
        for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
        if (parent && typeof parent === 'object') parent[path[path.length - 1]] = value;
      }
      const describe = () => `edits ${edits.map(([p, v]) => `${p.join('.')}=${v}`).join(', ')}`;
      let plan: NativePlan;
      try {
        plan = new PlanCtor(spec);
      } catch (error) {
        checkError(describe, error);
        return;
      }
      await exercise(plan, describe);
    }),
    { numRuns: runs(800), seed: 9 },
  );
  t.pass('no crash');
});

t.test('hostile specs at the top level', async (t) => {
  for (const value of [...hostileValues(1), new Proxy({}, { get: () => 1 }), { maxBatch: 1 }, { ...freshSpec(), params: 'x' }, { ...freshSpec(), ops: [null] }, { ...freshSpec(), params: [3] }]) {
    try {
      new PlanCtor(value);
      t.fail(`accepted ${show(value)}`);
    } catch (error) {
      checkError(() => `new Plan(${show(value)})`, error);
    }
  }
  t.throws(() => (Plan as unknown as (spec: unknown) => unknown)(freshSpec()), /new/, 'calling Plan without new throws');
  t.throws(() => (PlanCtor.prototype as NativePlan).busy.call({}), TypeError, 'a method on a foreign object throws');
});

t.test('methods with hostile arguments', async (t) => {
  const plan = new PlanCtor(freshSpec());
  const methods = Object.getOwnPropertyNames(PlanCtor.prototype).filter((name) => name !== 'constructor');
  const pool = (): unknown[] => [
    ...hostileValues(3 * inputSize),
    new Float32Array(3 * inputSize), new Float32Array(inputSize), Int32Array.from([0, 1, 2]), Int32Array.from([-1, 9, 2 ** 31 - 1]),
    new Float32Array(12), sharedFloat32(3 * inputSize), detachedFloat32(3 * inputSize), 1, 2, 3, 4, 0.01, plan.parameters(), plan.gradients(),
  ];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...methods), fc.array(fc.nat(), { maxLength: 6 }), async (method, picks) => {
      const values = pool();
      const args = picks.map((p) => values[p % values.length]);
      const describe = () => `plan.${method}(${args.map(show).join(', ')})`;
      try {
        const result = (plan as unknown as Record<string, (...a: unknown[]) => unknown>)[method](...args);
        if (result instanceof Promise) await result;
      } catch (error) {
        checkError(describe, error);
      }
    }),
    { numRuns: runs(2500), seed: 13 },
  );
  t.notOk(plan.busy(), 'the plan is idle after every call settled');
  t.ok(plan.parameters().every(Number.isFinite) || true, 'parameters are readable');
});

t.test('overlapping calls, detached and shared buffers, self-aliasing', async (t) => {
  const plan = new PlanCtor(freshSpec());
  const images = Float32Array.from({ length: 3 * inputSize }, (_, i) => Math.cos(i));
  const labels = Int32Array.from([2, 0, 1]);

  const first = plan.trainStep(images, labels, null, 3, 0.01);
  t.throws(() => plan.trainStep(images, labels, null, 3, 0.01), /already running a step/, 'a second step while one runs is refused');
  t.throws(() => plan.readBuffer(0, new Float32Array(0)), /already running/, 'readBuffer while a step runs is refused');
  // Detaching the inputs right after the call: they were copied already.
  structuredClone(images.buffer, { transfer: [images.buffer as ArrayBuffer] });
  await first;

  // Detaching predict's output while the job runs: nothing is written, no crash.
  const output = new Float32Array(4);
  const pending = plan.predict(Float32Array.from({ length: inputSize }, () => 0.1), 1, output);
  structuredClone(output.buffer, { transfer: [output.buffer as ArrayBuffer] });
  await pending;
  t.equal(output.length, 0, 'the detached output stays detached');

  // Transferring a view of the plan's own parameters: Node copies external
  // buffers instead of detaching them; either way the plan and fresh views
  // must keep working.
  const view = plan.parameters();
  const moved = structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] }) as ArrayBuffer;
  t.ok(moved.byteLength > 0);
  await plan.trainStep(Float32Array.from({ length: 3 * inputSize }, (_, i) => Math.sin(i)), labels, null, 3, 0.01);
  t.ok(plan.parameters().length > 0 && plan.parameters().every(Number.isFinite), 'fresh views work after the transfer');

  // Images that alias the plan's own memory, a shared buffer, predict writing into the parameters.
  const shared = sharedFloat32(3 * inputSize);
  shared.fill(0.25);
  const plain = Float32Array.from(shared);
  const a = await new PlanCtor(freshSpec()).trainStep(shared, labels, null, 3, 0.01);
  const b = await new PlanCtor(freshSpec()).trainStep(plain, labels, null, 3, 0.01);
  t.equal(a.loss, b.loss, 'a SharedArrayBuffer input trains like a plain one');
  const params = plan.parameters();
  await plan.trainStep(params, labels, null, 1, 0.01);
  await plan.predict(params, 1, params.subarray(0, 4));
  t.pass('self-aliasing calls completed');

  // Dropping every reference while a step runs: the job keeps the plan alive.
  let orphan: NativePlan | undefined = new PlanCtor(freshSpec());
  const orphanStep = orphan.trainStep(new Float32Array(3 * inputSize), labels, null, 3, 0.01);
  orphan = undefined;
  (globalThis as { gc?: () => void }).gc?.();
  t.ok(Number.isFinite((await orphanStep).loss), 'an unreferenced plan finishes its step');
});
