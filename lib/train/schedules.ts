// Learning-rate schedules, evaluated in TypeScript once per step and passed
// to the native step (so a schedule costs nothing in the hot loop).
export type Schedule =
  | { kind: 'constant'; value: number }
  | { kind: 'step'; initial: number; stepSize: number; gamma: number }
  | { kind: 'cosine'; initial: number; decaySteps: number; alpha?: number; warmupSteps?: number };

export type LearningRate = number | Schedule;

export function constant(value: number): Schedule {
  return { kind: 'constant', value };
}

/** lr = initial * gamma^floor(step / stepSize). */
export function stepDecay(config: { initial: number; stepSize: number; gamma?: number }): Schedule {
  return { kind: 'step', initial: config.initial, stepSize: config.stepSize, gamma: config.gamma ?? 0.1 };
}

/**
 * Linear warm-up over warmupSteps, then cosine from initial down to
 * alpha * initial at decaySteps (counted from the start, warm-up included).
 */
export function cosineDecay(config: { initial: number; decaySteps: number; alpha?: number; warmupSteps?: number }): Schedule {
  return { kind: 'cosine', initial: config.initial, decaySteps: config.decaySteps, alpha: config.alpha ?? 0, warmupSteps: config.warmupSteps ?? 0 };
}

export function learningRateAt(rate: LearningRate, step: number): number {
  if (typeof rate === 'number') return rate;
  switch (rate.kind) {
    case 'constant':
      return rate.value;
    case 'step':
      return rate.initial * Math.pow(rate.gamma, Math.floor(step / rate.stepSize));
    case 'cosine': {
      const warmup = rate.warmupSteps ?? 0;
      if (step < warmup) return (rate.initial * (step + 1)) / warmup;
      const span = Math.max(1, rate.decaySteps - warmup);
      const progress = Math.min(1, (step - warmup) / span);
      const alpha = rate.alpha ?? 0;
      return rate.initial * ((1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * progress)) + alpha);
    }
  }
}

export function validateLearningRate(rate: unknown): LearningRate {
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (positive(rate)) return rate as number;
  if (rate && typeof rate === 'object' && 'kind' in rate) {
    const r = rate as Schedule;
    if (r.kind === 'constant' && positive(r.value)) return r;
    if (r.kind === 'step' && positive(r.initial) && positive(r.stepSize) && positive(r.gamma)) return r;
    if (r.kind === 'cosine' && positive(r.initial) && positive(r.decaySteps)) return r;
  }
  throw new TypeError(`kiln.compile: expected a positive number or a schedule (constant, stepDecay, cosineDecay) for 'learningRate' but received ${JSON.stringify(rate)}`);
}
