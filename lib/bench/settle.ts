// Waits until the peer processes have stopped using the CPU before the next
// measurement starts. A framework goes on working for a while after it
// answers (PyTorch's OpenMP threads spin, then sleep; freed memory is
// returned): measured right after a PyTorch round, kiln's 2-thread lenet5
// inference took 6.2 ms a step against 0.6-1.4 ms after one of its own,
// because its worker thread waited for a CPU that a spinning peer held.
// Every measurement, kiln's and the peers', starts after this wait, so
// neither side pays for the other's tail.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const POLL_MS = 50;
const QUIET_POLLS = 2; // this many polls in a row with no CPU time used
const MAX_WAIT_MS = 3000;

/**
 * utime + stime (fields 14 and 15) of a /proc/PID/stat line, in clock ticks.
 * The command name (field 2) is in parentheses and may hold spaces and
 * parentheses itself, so the fields are counted from the last ')'.
 */
export function cpuTicksOfStat(stat: string): number | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat.slice(close + 2).trim().split(/\s+/);  // field 3 onwards
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks : null;
}

/** CPU time of a Linux process in clock ticks, or null where /proc cannot tell. */
function cpuTicks(pid: number): number | null {
  try {
    return cpuTicksOfStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

function totalTicks(pids: number[]): number | null {
  let total = 0;
  for (const pid of pids) {
    const ticks = cpuTicks(pid);
    if (ticks === null) return null;
    total += ticks;
  }
  return total;
}

/** Resolves once the processes have used no CPU for QUIET_POLLS polls in a row, or after MAX_WAIT_MS. */
export async function settle(pids: number[]): Promise<void> {
  if (pids.length === 0) return;
  let last = totalTicks(pids);
  if (last === null) {
    await sleep(500); // no /proc: a fixed pause instead
    return;
  }
  let quiet = 0;
  for (let waited = 0; waited < MAX_WAIT_MS && quiet < QUIET_POLLS; waited += POLL_MS) {
    await sleep(POLL_MS);
    const now = totalTicks(pids);
    if (now === null) return; // a process ended: nothing left to wait for
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
}
