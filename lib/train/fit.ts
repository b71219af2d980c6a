// The training loop. Each step is one native call that runs off the
// JavaScript thread (forward, loss, backward, update), so the event loop keeps
// serving while a model trains; between steps the loop checks the AbortSignal
// and runs callbacks.
import type { Model } from '../model/model';
import { Callback, Logs } from './callbacks';
import { Progress } from './progress';
import { deriveSeed } from '../data/random';
import { shuffledIndices } from '../data/dataset';
import { gatherBatches, Samples, splitSamples, TrainingData } from './samples';

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  validationData?: TrainingData;
  /** Fraction of the data (its last samples, before shuffling) held out for validation. */
  validationSplit?: number;
  shuffle?: boolean;
  /** Seed of the shuffling order (defaults to the model's seed). */
  seed?: number;
  callbacks?: Callback[];
  /** Stops training cleanly between steps. */
  signal?: AbortSignal;
  /** 0 silent, 1 progress bar on a TTY (a line per epoch otherwise), 2 a line per epoch. */
  verbose?: number;
  /**
   * When a step's loss or gradients are NaN or infinite, its update is never
   * applied (the weights stay the last good ones); then 'throw' (default)
   * rejects with the epoch, step and first affected weight, 'stop' ends
   * training quietly, and 'skip' drops that batch and goes on.
   */
  onNonFinite?: 'throw' | 'stop' | 'skip';
  /**
   * Epochs already done (Keras' initialEpoch): training runs epochs
   * initialEpoch + 1 .. epochs, with the same shuffling order those epochs
   * would have had, so a resumed run continues an interrupted one exactly.
   */
  initialEpoch?: number;
}

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
  /** True when an AbortSignal or a callback ended training early. */
  stoppedEarly: boolean;
}

function positiveInteger(argument: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TypeError(`kiln.fit: expected a positive integer for '${argument}' but received ${JSON.stringify(value)}`);
  }
  return value;
}

/** The first weight whose gradient (from the last step) is not finite. */
function firstNonFiniteGradient(model: Model): string | undefined {
  for (const [key, values] of model.getGradients()) {
    if (!values.every(Number.isFinite)) return key;
  }
  return undefined;
}

/** The key of the first non-finite weight (called only after the native step reported one). */
function firstNonFiniteWeight(model: Model): string | undefined {
  for (const [key, values] of model.weightViews()) {
    if (!values.every(Number.isFinite)) return key;
  }
  return undefined;
}

export async function fit(model: Model, data: TrainingData, options: FitOptions): Promise<History> {
  const epochs = positiveInteger('epochs', options.epochs, 1);
  const initialEpoch = options.initialEpoch ?? 0;
  if (typeof initialEpoch !== 'number' || !Number.isInteger(initialEpoch) || initialEpoch < 0) {
    throw new TypeError(`kiln.fit: expected a non-negative integer for 'initialEpoch' but received ${JSON.stringify(options.initialEpoch)}`);
  }
  const batchSize = positiveInteger('batchSize', options.batchSize, 32);
  const shuffle = options.shuffle ?? true;
  const seed = options.seed ?? model.seed;
  const verbose = options.verbose ?? 1;
  const callbacks = options.callbacks ?? [];
  if (options.validationSplit !== undefined && !(options.validationSplit > 0 && options.validationSplit < 1)) {
    throw new TypeError(`kiln.fit: expected a number in (0, 1) for 'validationSplit' but received ${options.validationSplit}`);
  }
  let train: Samples = model.samples('fit', data, true);
  let validation: Samples | undefined;
  if (options.validationData) validation = model.samples('fit (validationData)', options.validationData, true);
  else if (options.validationSplit) ({ train, validation } = splitSamples(train, options.validationSplit));

  const plan = model.ensurePlan(Math.min(batchSize, train.count));
  const steps = Math.ceil(train.count / batchSize);
  const progress = new Progress({ verbose });
  const history: History = { epoch: [], history: {}, stoppedEarly: false };
  model.stopTraining = false;
  for (const callback of callbacks) callback.setModel?.(model);
  for (const callback of callbacks) await callback.onTrainBegin?.();

  let lastLogs: Logs = {};
  for (let epoch = initialEpoch + 1; epoch <= epochs; epoch++) {
    if (options.signal?.aborted) break;
    for (const callback of callbacks) await callback.onEpochBegin?.(epoch);
    const order = shuffle ? shuffledIndices(train.count, deriveSeed(seed, epoch)) : undefined;
    const started = process.hrtime.bigint();
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    let step = 0;
    let skipped = 0;
    for (const batch of gatherBatches(train, batchSize, order)) {
      if (options.signal?.aborted) break;
      const lr = model.learningRateAt(plan.updateCount());
      const result = await plan.trainStep(batch.images, batch.labels, batch.targets, batch.count, lr);
      const onNonFinite = options.onNonFinite ?? 'throw';
      if (result.skipped) {
        const gradient = firstNonFiniteGradient(model);
        const what = Number.isFinite(result.loss) ? `the gradient of '${gradient}' became NaN or infinite` : `the loss became ${result.loss}`;
        const where = gradient && !Number.isFinite(result.loss) ? `, first non-finite gradient: '${gradient}'` : '';
        const message = `kiln.fit: ${what} at epoch ${epoch}, step ${step + 1} (learning rate ${lr}${where}); the update was not applied. Lower the learning rate or check the data`;
        if (onNonFinite === 'skip') {
          skipped++;
          continue;
        }
        if (onNonFinite === 'throw') throw new Error(message);
        if (verbose) process.stderr.write(message + '\n');
        model.stopTraining = true;
        break;
      }
      // The native step checks the weights after each update: a ReLU maps NaN
      // to 0, so a weight can blow up while the loss stays finite.
      const blownUp = result.weightsNonFinite ? (firstNonFiniteWeight(model) ?? 'unknown') : undefined;
      if (blownUp) {
        // A finite update overflowed: it cannot be undone, so even 'skip' stops.
        const message = `kiln.fit: weight '${blownUp}' became NaN or infinite at epoch ${epoch}, step ${step + 1} (loss ${result.loss}, learning rate ${lr}); lower the learning rate or check the data`;
        if (onNonFinite === 'throw') throw new Error(message);
        if (verbose) process.stderr.write(message + '\n');
        model.stopTraining = true;
        break;
      }
      step++;
      lossSum += result.loss * batch.count;
      correct += result.correct;
      seen += batch.count;
      const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
      const accuracy = batch.labels ? correct / seen : undefined;
      progress.step(epoch, epochs, step, steps, lossSum / seen, accuracy, seen / elapsed, elapsed);
      if (callbacks.length) {
        const logs: Logs = { loss: result.loss };
        if (batch.labels) logs.accuracy = result.correct / batch.count;
        for (const callback of callbacks) await callback.onBatchEnd?.(step, logs);
      }
    }
    if (skipped > 0 && verbose) process.stderr.write(`kiln.fit: epoch ${epoch}: skipped ${skipped} batch(es) whose loss or gradients were not finite\n`);
    // An epoch cut short by the signal is not an epoch: nothing is recorded.
    if (seen === 0 || options.signal?.aborted) break;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const logs: Logs = model.logsFor(lossSum / seen, correct, seen, Boolean(train.labels));
    if (validation) {
      const validationLogs = await model.evaluateSamples(validation, Math.max(batchSize, 256));
      for (const [key, value] of Object.entries(validationLogs)) logs[`val${key[0].toUpperCase()}${key.slice(1)}`] = value;
    }
    history.epoch.push(epoch);
    for (const [key, value] of Object.entries(logs)) (history.history[key] ??= []).push(value);
    progress.epochEnd(epoch, epochs, logs, seconds, seen / seconds);
    for (const callback of callbacks) await callback.onEpochEnd?.(epoch, logs);
    lastLogs = logs;
    if (model.stopTraining || options.signal?.aborted) break;
  }
  history.stoppedEarly = model.stopTraining || Boolean(options.signal?.aborted);
  for (const callback of callbacks) await callback.onTrainEnd?.(lastLogs);
  return history;
}
