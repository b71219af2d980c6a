// The command line as users run it (the compiled dist/lib/cli.js).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const cli = path.join(root, 'dist', 'lib', 'cli.js');

function run(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

t.test('kiln --help and summary', async (t) => {
  const help = run('--help');
  t.equal(help.status, 0);
  t.match(help.stdout, /train MODEL/);
  t.match(run('train', '--help').stdout, /--dataset SPEC/);
  const summary = run('summary', 'lenet5');
  t.equal(summary.status, 0);
  t.match(summary.stdout, /Total params: 61,706/);
  t.match(run('summary', 'resnet20', '--input-shape', '28,28,1').stdout, /stage3_block3_add \(Add\)\s+\[7, 7, 64\]/);
});

t.test('kiln train reports progress and a final test accuracy, and saves; kiln evaluate reads it back', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const trained = run('train', 'lenet5', '--epochs', '1', '--batch-size', '128', '--save', dir);
  t.equal(trained.status, 0, trained.stderr);
  t.match(trained.stdout, /epoch 1\/1: loss [\d.]+, accuracy [\d.]+%, valLoss [\d.]+, valAccuracy [\d.]+%/);
  const accuracy = /test accuracy: ([\d.]+)%/.exec(trained.stdout);
  t.ok(accuracy && Number(accuracy[1]) > 80, `one epoch reaches ${accuracy?.[1]}%`);
  const evaluated = run('evaluate', dir, '--dataset', 'mnist');
  t.equal(evaluated.status, 0, evaluated.stderr);
  t.match(evaluated.stdout, `test accuracy: ${accuracy![1]}%`);
});

t.test('bad arguments give a clear message and exit code 2', async (t) => {
  const unknown = run('train', 'vgg99');
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /unknown model 'vgg99'; expected one of lenet5, alexnet-s, resnet20/);
  const badEpochs = run('train', 'lenet5', '--epochs', '0');
  t.equal(badEpochs.status, 2);
  t.match(badEpochs.stderr, /expected a positive integer for --epochs but received '0'/);
  const badData = run('train', 'lenet5', '--dataset', 'idx:/nonexistent/folder', '--epochs', '1');
  t.equal(badData.status, 1);
  t.match(badData.stderr, /nonexistent/);
  t.equal(run('frobnicate').status, 2);
});
