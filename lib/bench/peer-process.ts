// A peer framework running in a child process that speaks JSON lines: it
// first writes one line describing itself ({ready, version, ...}), then
// answers each request line with one result line. One process serves the
// whole run, so start-up cost is paid once and kiln and the peer alternate.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { PeerRequest, StepTimes } from './workloads';

export interface PeerHello {
  ready: boolean;
  version?: string;
  isa?: string;
  error?: string;
  [extra: string]: unknown;
}

export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

export class PeerProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending: Array<(line: string | null) => void> = [];
  private readonly lines: string[] = [];
  private closed = false;
  private stderr = '';

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child.on('error', (error) => {
      this.stderr += String(error.message);
      this.finish();
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      // Keep only the tail: enough to explain a failure.
      this.stderr = (this.stderr + chunk.toString()).slice(-4000);
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return; // stray library output
      const waiter = this.pending.shift();
      if (waiter) waiter(line);
      else this.lines.push(line);
    });
    this.child.on('close', () => this.finish());
  }

  /** The child's process id (undefined if it failed to start). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  private finish(): void {
    this.closed = true;
    for (const waiter of this.pending.splice(0)) waiter(null);
  }

  private nextLine(): Promise<string | null> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.pending.push(resolve));
  }

  private exitMessage(): string {
    const tail = this.stderr.trim().split('\n').slice(-3).join(' | ');
    return `the process exited${tail ? `: ${tail}` : ''}`;
  }

  async hello(): Promise<PeerHello> {
    const line = await this.nextLine();
    if (line === null) return { ready: false, error: this.exitMessage() };
    return JSON.parse(line) as PeerHello;
  }

  get alive(): boolean {
    return !this.closed;
  }

  /**
   * One measurement. A step cannot be interrupted from outside, so after
   * timeoutSeconds the process is killed (the caller starts a new one) and
   * the measurement fails with a TimeoutError.
   */
  async measure(request: PeerRequest, timeoutSeconds: number): Promise<StepTimes> {
    if (this.closed) throw new Error(this.exitMessage());
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutSeconds * 1000);
    });
    const line = await Promise.race([this.nextLine(), timeout]);
    clearTimeout(timer);
    if (line === 'timeout') {
      this.closed = true;
      this.pending.splice(0);
      this.child.kill('SIGKILL');
      throw new TimeoutError(`no answer within ${timeoutSeconds} s (killed)`);
    }
    if (line === null) throw new Error(this.exitMessage());
    const answer = JSON.parse(line) as StepTimes & { ok: boolean; error?: string };
    if (!answer.ok) throw new Error(answer.error ?? 'unknown error');
    return answer;
  }

  close(): void {
    if (!this.closed) this.child.stdin.end();
    this.closed = true;
  }
}
