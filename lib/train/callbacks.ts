// Callbacks for fit. Any hook may be async; fit awaits it. A callback stops
// training by setting model.stopTraining = true.
export type Logs = Record<string, number>;

export interface CallbackModel {
  stopTraining: boolean;
  getWeights(): Map<string, Float32Array>;
  setWeights(weights: Map<string, Float32Array>): void;
  save(path: string): Promise<void>;
}

export interface Callback {
  setModel?(model: CallbackModel): void;
  onTrainBegin?(): void | Promise<void>;
  onEpochBegin?(epoch: number): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onTrainEnd?(logs: Logs): void | Promise<void>;
}

function improves(mode: 'min' | 'max', value: number, best: number, minDelta: number): boolean {
  return mode === 'min' ? value < best - minDelta : value > best + minDelta;
}

function modeFor(monitor: string, mode: 'auto' | 'min' | 'max'): 'min' | 'max' {
  if (mode !== 'auto') return mode;
  return monitor.toLowerCase().includes('acc') ? 'max' : 'min';
}

export interface EarlyStoppingConfig {
  monitor?: string;
  patience?: number;
  minDelta?: number;
  mode?: 'auto' | 'min' | 'max';
  restoreBestWeights?: boolean;
}

/** Stops when `monitor` (default valLoss) has not improved for `patience` epochs. */
export function earlyStopping(config: EarlyStoppingConfig = {}): Callback & { stoppedEpoch: number } {
  const monitor = config.monitor ?? 'valLoss';
  const patience = config.patience ?? 0;
  const minDelta = Math.abs(config.minDelta ?? 0);
  const mode = modeFor(monitor, config.mode ?? 'auto');
  let model: CallbackModel | undefined;
  let best = mode === 'min' ? Infinity : -Infinity;
  let wait = 0;
  let bestWeights: Map<string, Float32Array> | undefined;
  const callback = {
    stoppedEpoch: -1,
    setModel(m: CallbackModel) {
      model = m;
    },
    onTrainBegin() {
      best = mode === 'min' ? Infinity : -Infinity;
      wait = 0;
      bestWeights = undefined;
    },
    onEpochEnd(epoch: number, logs: Logs) {
      const value = logs[monitor];
      if (value === undefined) throw new Error(`kiln.earlyStopping: metric '${monitor}' is not in the epoch logs (${Object.keys(logs).join(', ')})`);
      if (improves(mode, value, best, minDelta)) {
        best = value;
        wait = 0;
        if (config.restoreBestWeights && model) bestWeights = new Map([...model.getWeights()].map(([k, v]) => [k, v.slice()]));
      } else if (++wait > patience && model) {
        model.stopTraining = true;
        callback.stoppedEpoch = epoch;
        if (bestWeights) model.setWeights(bestWeights);
      }
    },
  };
  return callback;
}

export interface ModelCheckpointConfig {
  /** Folder to save into; "{epoch}" is replaced by the epoch number. */
  path: string;
  monitor?: string;
  saveBestOnly?: boolean;
  mode?: 'auto' | 'min' | 'max';
}

/** Saves the model (atomically) after each epoch, or only when `monitor` improves. */
export function modelCheckpoint(config: ModelCheckpointConfig): Callback {
  const monitor = config.monitor ?? 'valLoss';
  const mode = modeFor(monitor, config.mode ?? 'auto');
  let model: CallbackModel | undefined;
  let best = mode === 'min' ? Infinity : -Infinity;
  return {
    setModel(m) {
      model = m;
    },
    async onEpochEnd(epoch, logs) {
      if (!model) return;
      if (config.saveBestOnly) {
        const value = logs[monitor];
        if (value === undefined || !improves(mode, value, best, 0)) return;
        best = value;
      }
      await model.save(config.path.replace('{epoch}', String(epoch)));
    },
  };
}
