#!/usr/bin/env node
// The kiln command line: train, evaluate, summary (and bench, when present).
import { parseArgs } from 'node:util';
import { backend, setNumThreads } from './backend';
import { loadDataset } from './data';
import { loadModel } from './model/serialization';
import { zoo } from './model/zoo';
import { adam, adamw, sgd } from './train/optimizers';
import { cosineDecay } from './train/schedules';
import type { Model } from './model/model';

interface Recipe {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'sgd' | 'adam' | 'adamw';
  momentum: number;
  weightDecay: number;
  cosine: boolean;
}

// The accuracy recipes of WORKLOADS.md, per model.
const recipes: Record<string, Recipe> = {
  lenet5: { epochs: 10, batchSize: 64, learningRate: 0.01, optimizer: 'sgd', momentum: 0.9, weightDecay: 0, cosine: false },
  'alexnet-s': { epochs: 10, batchSize: 64, learningRate: 0.01, optimizer: 'sgd', momentum: 0.9, weightDecay: 0, cosine: false },
  resnet20: { epochs: 15, batchSize: 128, learningRate: 0.1, optimizer: 'sgd', momentum: 0.9, weightDecay: 5e-4, cosine: true },
};

const usage = {
  main: `Usage: kiln <command> [options]

Commands:
  train MODEL       train a reference model (lenet5, alexnet-s, resnet20) and report test accuracy
  evaluate DIR      evaluate a saved model on a dataset
  summary MODEL     print a model's layers, shapes, parameters, receptive fields and MACs
  bench             training and inference throughput vs PyTorch and TensorFlow.js
  info              print the backend (ISA, threads, version)

Run 'kiln <command> --help' for a command's options.`,
  train: `Usage: kiln train MODEL [options]

MODEL: lenet5 | alexnet-s | resnet20

Options:
  --dataset SPEC       mnist (default: the bundled 10,000 digits, 8,000 train / 2,000 test),
                       fashion-mnist, idx:DIR (MNIST-format files), cifar10:DIR (CIFAR-10 binary)
  --epochs N           default: the model's recipe (lenet5 10, resnet20 15)
  --batch-size N       default: the recipe's (lenet5 64, resnet20 128)
  --lr X               learning rate (default: the recipe's)
  --optimizer NAME     sgd | adam | adamw (default sgd)
  --momentum X         SGD momentum (default 0.9)
  --weight-decay X     default: the recipe's (resnet20 5e-4)
  --cosine             cosine learning-rate decay over the run (resnet20 default)
  --threads N          kernel threads (default: all cores)
  --seed N             seed for initialisation, shuffling and the mnist split (default 0)
  --save DIR           save the trained model (model.json + weights.safetensors)
  --quiet              no progress output
  --help`,
  evaluate: `Usage: kiln evaluate DIR --dataset SPEC [--batch-size N] [--threads N]`,
  summary: `Usage: kiln summary MODEL [--input-shape H,W,C]

MODEL: lenet5 | alexnet-s | resnet20`,
};

function fail(message: string): never {
  process.stderr.write(`kiln: ${message}\n`);
  process.exit(2);
}

function positiveNumber(name: string, value: string | undefined, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || (integer && (!Number.isInteger(number) || number < 1))) {
    fail(`expected a ${integer ? 'positive integer' : 'non-negative number'} for --${name} but received '${value}'`);
  }
  return number;
}

function buildModel(name: string, inputShape: number[] | undefined, seed: number): Model {
  const make = zoo[name];
  if (!make) fail(`unknown model '${name}'; expected one of ${Object.keys(zoo).join(', ')}`);
  return make({ inputShape, seed });
}

async function train(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      dataset: { type: 'string', default: 'mnist' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      optimizer: { type: 'string' },
      momentum: { type: 'string' },
      'weight-decay': { type: 'string' },
      cosine: { type: 'boolean' },
      threads: { type: 'string' },
      seed: { type: 'string' },
      save: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return void console.log(usage.train);
  const modelName = positionals[0] ?? 'lenet5';
  const recipe = recipes[modelName];
  if (!recipe) fail(`unknown model '${modelName}'; expected one of ${Object.keys(recipes).join(', ')}`);
  const seed = positiveNumber('seed', values.seed, 0, false);
  if (values.threads) setNumThreads(positiveNumber('threads', values.threads, 1, true));
  const epochs = positiveNumber('epochs', values.epochs, recipe.epochs, true);
  const batchSize = positiveNumber('batch-size', values['batch-size'], recipe.batchSize, true);
  const learningRate = positiveNumber('lr', values.lr, recipe.learningRate, false);
  const momentum = positiveNumber('momentum', values.momentum, recipe.momentum, false);
  const weightDecay = positiveNumber('weight-decay', values['weight-decay'], recipe.weightDecay, false);
  const optimizerName = (values.optimizer ?? recipe.optimizer) as Recipe['optimizer'];

  const loadStart = Date.now();
  const { train: trainSet, test } = loadDataset(values.dataset!, { seed });
  const model = buildModel(modelName, trainSet.shape, seed);
  const steps = Math.ceil(trainSet.count / batchSize) * epochs;
  const rate = values.cosine || (recipe.cosine && values.cosine === undefined) ? cosineDecay({ initial: learningRate, decaySteps: steps }) : learningRate;
  const optimizer =
    optimizerName === 'sgd' ? sgd({ learningRate: rate, momentum, weightDecay })
    : optimizerName === 'adam' ? adam({ learningRate: rate, weightDecay })
    : optimizerName === 'adamw' ? adamw({ learningRate: rate, weightDecay })
    : fail(`unknown optimizer '${optimizerName}'; expected sgd, adam or adamw`);
  model.compile({ optimizer, loss: 'softmaxCrossEntropy' });

  const info = backend();
  const quiet = Boolean(values.quiet);
  if (!quiet) {
    console.log(`kiln ${info.version} (${info.isa}, ${info.threads} threads): training ${modelName} (${model.countParams().toLocaleString('en-US')} parameters)`);
    console.log(`data: ${values.dataset}: ${trainSet.count} train / ${test.count} test images of ${trainSet.shape.join('x')} (loaded in ${((Date.now() - loadStart) / 1000).toFixed(1)} s)`);
    console.log(`recipe: ${optimizerName} lr ${learningRate}${typeof rate === 'number' ? '' : ' cosine'} momentum ${momentum} weight decay ${weightDecay}, batch ${batchSize}, ${epochs} epochs, seed ${seed}`);
  }
  const started = Date.now();
  const history = await model.fit(trainSet, {
    epochs,
    batchSize,
    seed,
    validationData: test,
    verbose: quiet ? 0 : 1,
  });
  const seconds = (Date.now() - started) / 1000;
  const result = await model.evaluate(test);
  if (values.save) {
    await model.save(values.save);
    if (!quiet) console.log(`saved to ${values.save}`);
  }
  console.log(`trained ${history.epoch.length} epochs in ${seconds.toFixed(1)} s; test loss ${result.loss.toFixed(4)}`);
  console.log(`test accuracy: ${(result.accuracy * 100).toFixed(2)}%`);
}

async function evaluate(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { dataset: { type: 'string' }, 'batch-size': { type: 'string' }, threads: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (values.help) return void console.log(usage.evaluate);
  if (!positionals[0]) fail(`missing the saved model folder\n${usage.evaluate}`);
  if (!values.dataset) fail(`missing --dataset\n${usage.evaluate}`);
  if (values.threads) setNumThreads(positiveNumber('threads', values.threads, 1, true));
  const model = await loadModel(positionals[0]);
  if (!model.isCompiled) model.compile({ optimizer: 'sgd', loss: 'softmaxCrossEntropy' });
  const { test } = loadDataset(values.dataset);
  const result = await model.evaluate(test, { batchSize: positiveNumber('batch-size', values['batch-size'], 256, true) });
  console.log(`test loss: ${result.loss.toFixed(4)}`);
  console.log(`test accuracy: ${(result.accuracy * 100).toFixed(2)}%`);
}

function summary(args: string[]): void {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { 'input-shape': { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return void console.log(usage.summary);
  if (!positionals[0]) fail(`missing MODEL\n${usage.summary}`);
  const inputShape = values['input-shape']?.split(',').map((v) => positiveNumber('input-shape', v, 1, true));
  buildModel(positionals[0], inputShape, 0).summary();
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'train':
      return train(rest);
    case 'evaluate':
      return evaluate(rest);
    case 'summary':
      return summary(rest);
    case 'bench': {
      // Loaded on demand: the benchmark pulls in peers nobody else needs.
      const { benchCommand } = await import('./bench/command');
      return benchCommand(rest);
    }
    case 'info':
      return void console.log(JSON.stringify(backend(), null, 2));
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      return void console.log(usage.main);
    default:
      fail(`unknown command '${command}'\n${usage.main}`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((error: Error) => {
    process.stderr.write(`kiln: ${error.message}\n`);
    process.exit(1);
  });
}
