#!/usr/bin/env node
// The test command (`npm test`): type-checks, then runs the tap suite once at
// the best ISA this CPU has, and the kernel suites (test/native, test/ops)
// again under each lower ISA through KILN_ISA, so every SIMD path is tested on
// one machine. Ends with the plain line "N passed, N failed" and a non-zero
// exit when anything failed. Extra arguments are passed to tap as file
// filters for the first pass only (e.g. `npm test -- test/native`).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const tapBin = path.join(root, 'node_modules', '.bin', 'tap');
const tscBin = path.join(root, 'node_modules', '.bin', 'tsc');
const logDir = path.join(root, '.tap');
fs.mkdirSync(logDir, { recursive: true });

function detectedIsa() {
  const probe = spawnSync(process.execPath, ['-e', "console.log(require('./dist/lib/backend').backend().detectedIsa)"], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, KILN_ISA: '' },
  });
  if (probe.status !== 0) {
    process.stderr.write(probe.stderr);
    return 'scalar';
  }
  return probe.stdout.trim();
}

function runTap(label, files, extraEnv) {
  const logFile = path.join(logDir, `${label}.tap`);
  process.stdout.write(`\n== ${label}: tap ${files.join(' ')}\n`);
  const started = Date.now();
  const run = spawnSync(
    tapBin,
    ['--reporter=tap', '--disable-coverage', '--allow-empty-coverage', '--timeout=900', ...files],
    { cwd: root, encoding: 'utf8', env: { ...process.env, ...extraEnv }, maxBuffer: 1 << 30 },
  );
  const output = `${run.stdout || ''}${run.stderr || ''}`;
  fs.writeFileSync(logFile, output);
  const summary = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, skip: (\d+))?(?:, todo: (\d+))?/.exec(output);
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  if (summary) {
    passed = Number(summary[2] || 0);
    failed = Number(summary[3] || 0);
    skipped = Number(summary[4] || 0);
  }
  if (!summary || run.status !== 0) {
    // Show every failing line with its context; count a crashed run as a failure.
    const lines = output.split('\n');
    lines.forEach((line, index) => {
      if (/^\s*not ok /.test(line)) process.stdout.write(lines.slice(index, index + 25).join('\n') + '\n');
    });
    if (!summary) {
      process.stdout.write(output.slice(-4000) + '\n');
      failed = Math.max(failed, 1);
    } else if (failed === 0) {
      failed = 1;
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`${label}: ${passed} passed, ${failed} failed, ${skipped} skipped (${seconds} s; full log in .tap/${label}.tap)\n`);
  return { passed, failed, skipped };
}

function main() {
  process.stdout.write('== type-check and compile (tsc)\n');
  const tsc = spawnSync(tscBin, ['-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  let totals = { passed: 0, failed: tsc.status === 0 ? 0 : 1, skipped: 0 };

  const filters = process.argv.slice(2);
  const add = (result) => {
    totals.passed += result.passed;
    totals.failed += result.failed;
    totals.skipped += result.skipped;
  };
  const best = detectedIsa();
  add(runTap(`all-${best}`, filters.length ? filters : ['test'], { KILN_ISA: best }));
  if (filters.length === 0) {
    const lower = { avx512: ['avx2', 'scalar'], avx2: ['scalar'], scalar: [] }[best] || [];
    for (const isa of lower) add(runTap(`kernels-${isa}`, ['test/native', 'test/ops'], { KILN_ISA: isa }));
  }
  process.stdout.write(`\n${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped\n`);
  process.exit(totals.failed === 0 ? 0 : 1);
}

main();
