// The wait between measurements (lib/bench/settle.ts): reading a process's
// CPU time from /proc/PID/stat, and returning at once when there is nothing
// to wait for. No timing assertions: the machine is shared.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpuTicksOfStat, settle } from '../../lib/bench/settle';

t.test('CPU ticks come from utime + stime, counted past the last parenthesis of the command name', async (t) => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const plain = '4242 (python3) S 1 4242 4242 0 -1 4194560 9000 0 12 0 124 45 0 0 20 0 3 0 100';
  t.equal(cpuTicksOfStat(plain), 169);
  const awkward = '4242 (a) b (c) S 1 4242 4242 0 -1 4194560 9000 0 12 0 7 5 0 0 20 0 3 0 100';
  t.equal(cpuTicksOfStat(awkward), 12, 'a command name with spaces and parentheses');
  t.equal(cpuTicksOfStat('garbage'), null);
  t.equal(cpuTicksOfStat('1 (x) S 1'), null, 'too few fields');
});

t.test('settle returns for no processes and for one that has ended', async (t) => {
  await settle([]);
  const ended = spawnSync(process.execPath, ['-e', '0']);
  await settle([ended.pid ?? 0]);
  t.pass('both returned');
});

t.test('settle reads a live process (this one) and returns once it is quiet', { skip: process.platform !== 'linux' && '/proc is Linux only' }, async (t) => {
  const child = spawnSync(process.execPath, ['-e', 'setTimeout(() => {}, 10)']);
  t.equal(child.status, 0);
  // This process is idle while it awaits, so the wait ends after a few polls.
  await settle([process.pid]);
  t.pass('returned');
});
