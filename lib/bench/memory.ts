// Per-measurement memory figures. A process's peak RSS only ever grows, and
// kiln's plans are native memory freed when V8 collects their small JS
// handles, so without help every measurement would report the largest one
// before it. Between measurements: collect garbage, then (Linux >= 4.0)
// reset the kernel's high-water mark by writing 5 to /proc/self/clear_refs;
// the peak is then read back as VmHWM from /proc/self/status.
import * as fs from 'node:fs';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}

/**
 * Collects garbage and waits for the native finalizers it scheduled (Node
 * runs an addon object's finalizer after the collection that found it dead,
 * not inside it), so the previous measurement's plan memory is really freed
 * before the next measurement's peak is reset.
 */
export async function releaseUnreachable(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** True when the peak could be reset (peakRssMB then covers only what follows). */
export function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

export function peakRssMB(): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}
