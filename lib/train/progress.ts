// Progress while fitting. On a TTY: a bar redrawn in place on stderr (epoch,
// step, loss, accuracy, images/s, ETA). Elsewhere: one line per epoch, so logs
// stay readable. `verbose: 0` turns both off.
export interface ProgressOptions {
  /** 0 = silent, 1 = bar on a TTY / a line per epoch otherwise, 2 = a line per epoch always. */
  verbose: number;
  stream?: NodeJS.WriteStream;
}

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly bar: boolean;
  private lastDraw = 0;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.bar = options.verbose === 1 && Boolean(this.stream.isTTY);
  }

  step(epoch: number, epochs: number, step: number, steps: number, loss: number, accuracy: number | undefined, imagesPerSecond: number, elapsed: number): void {
    if (!this.bar) return;
    const now = Date.now();
    if (step < steps && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const width = 24;
    const filled = Math.round((step / steps) * width);
    const eta = ((steps - step) * elapsed) / Math.max(step, 1);
    const accuracyText = accuracy === undefined ? '' : ` acc ${(accuracy * 100).toFixed(2)}%`;
    const text = `epoch ${epoch}/${epochs} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${step}/${steps} loss ${loss.toFixed(4)}${accuracyText} ${imagesPerSecond.toFixed(0)} img/s ETA ${formatSeconds(eta)}`;
    this.stream.write(`\r${text.padEnd(110)}`);
  }

  epochEnd(epoch: number, epochs: number, logs: Record<string, number>, seconds: number, imagesPerSecond: number): void {
    if (this.options.verbose === 0) return;
    if (this.bar) this.stream.write('\r' + ' '.repeat(110) + '\r');
    const parts = Object.entries(logs).map(([key, value]) =>
      key.toLowerCase().includes('accuracy') ? `${key} ${(value * 100).toFixed(2)}%` : `${key} ${value.toFixed(4)}`,
    );
    const rssMB = process.memoryUsage.rss() / 2 ** 20;
    const line = `epoch ${epoch}/${epochs}: ${parts.join(', ')} (${seconds.toFixed(1)} s, ${imagesPerSecond.toFixed(0)} img/s, rss ${rssMB.toFixed(0)} MB)`;
    if (this.bar) this.stream.write(line + '\n');
    else process.stdout.write(line + '\n');
  }
}
