// Durability of model.save(): a child process trains and saves in a loop and
// is killed with SIGKILL at random moments, many of them in the middle of a
// save. After every kill the folder must load, and the loaded model must
// predict exactly what one of the saved versions predicted (the child logs
// each version's predictions, flushed to disk, before saving it).
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../lib/model/serialization';
import { createRandom } from '../../lib/data/random';
import { fixtureCommand } from './fixtures/child';
import { probeInput } from './fixtures/save-loop';

const KILLS = Number(process.env.KILN_KILLS ?? 15);

function runUntilKilled(dir: string, log: string, seed: number, savesBeforeKill: number, extraDelayMs: number): Promise<{ saves: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...fixtureCommand('test/reliability/fixtures/save-loop.ts'), dir, log, String(seed)], {
      env: { ...process.env, KILN_SAVE_LOOP: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let saves = 0;
    let stderr = '';
    let killing = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      saves += chunk.toString().split('\n').filter((line) => line.startsWith('saved')).length;
      if (saves >= savesBeforeKill && !killing) {
        killing = true;
        // A random moment inside the next iterations: a step, a predict, or a save.
        setTimeout(() => child.kill('SIGKILL'), extraDelayMs);
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL') reject(new Error(`the save loop exited by itself (code ${code}): ${stderr}`));
      else resolve({ saves, stderr });
    });
  });
}

t.test(`${KILLS} SIGKILLs at random moments leave a loadable folder holding one of the saved versions`, async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-kill-'));
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));
  const dir = path.join(work, 'model');
  const log = path.join(work, 'versions.jsonl');
  const random = createRandom(2026);
  const probe = probeInput();
  let midSave = 0;
  let latest = 0;
  let knownTemporary = new Set<string>();
  for (let kill = 0; kill < KILLS; kill++) {
    const { saves } = await runUntilKilled(dir, log, kill + 1, 1 + random.nextInt(3), random.nextInt(25));
    t.ok(saves >= 1, `run ${kill}: at least one save completed`);
    const files = fs.readdirSync(dir);
    const weights = files.filter((name) => /^weights-\d+\.safetensors$/.test(name));
    const temporary = files.filter((name) => name.endsWith('.tmp'));
    if (weights.length > 1 || temporary.some((name) => !knownTemporary.has(name))) midSave++;
    knownTemporary = new Set(temporary);
    const versions = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.stringify(JSON.parse(line)));
    const restored = await loadModel(dir);
    const predicted = JSON.stringify(Array.from((await restored.predict(probe)).data));
    const index = versions.lastIndexOf(predicted);
    t.ok(index >= 0, `run ${kill}: the loaded model is a saved version (folder: ${files.join(', ')})`);
    // It is the last version logged or the one before (logged, save not yet committed).
    t.ok(index >= versions.length - 2, `run ${kill}: it is one of the two newest versions (${index} of ${versions.length})`);
    latest = versions.length;
  }
  t.comment(`${latest} versions saved across ${KILLS} kills; ${midSave} kills landed inside a save (leftover temporary or second weights file)`);
  const leftovers = fs.readdirSync(dir).filter((name) => name.endsWith('.tmp'));
  t.comment(`temporary files left by killed saves: ${leftovers.length} (a later save does not sweep them)`);
});
