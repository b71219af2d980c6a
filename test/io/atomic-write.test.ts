import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../../lib/io/atomic-write';

function tempDir(t: { teardown(fn: () => void): unknown }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-atomic-'));
  t.teardown(() => {
    fs.chmodSync(dir, 0o755);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

t.test('writes strings, bytes and chunk lists, replacing the old file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'model.json');
  writeFileAtomic(file, '{"a":1}');
  t.equal(fs.readFileSync(file, 'utf8'), '{"a":1}');
  writeFileAtomic(file, Buffer.from('bytes'));
  t.equal(fs.readFileSync(file, 'utf8'), 'bytes');
  writeFileAtomic(file, [Buffer.from('one,'), new Uint8Array([116, 119, 111]), Buffer.alloc(0)]);
  t.equal(fs.readFileSync(file, 'utf8'), 'one,two');
  function* chunks() {
    for (let i = 0; i < 3; i++) yield Buffer.from(String(i));
  }
  writeFileAtomic(file, chunks());
  t.equal(fs.readFileSync(file, 'utf8'), '012');
  t.same(fs.readdirSync(dir), ['model.json'], 'no temporary files left behind');
});

t.test('keeps the permissions of the file it replaces', { skip: process.platform === 'win32' }, async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'secret.bin');
  fs.writeFileSync(file, 'old');
  fs.chmodSync(file, 0o600);
  writeFileAtomic(file, 'new');
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  // Bits the umask would clear on a new file survive too.
  fs.chmodSync(file, 0o646);
  writeFileAtomic(file, 'newer');
  t.equal(fs.statSync(file).mode & 0o777, 0o646);
  t.equal(fs.readFileSync(file, 'utf8'), 'newer');
});

t.test('a failure while writing leaves the old file intact and removes the temporary file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'weights.safetensors');
  fs.writeFileSync(file, 'old contents');
  function* failing() {
    yield Buffer.from('partial new contents');
    throw new Error('disk on fire');
  }
  t.throws(() => writeFileAtomic(file, failing()), /kiln.writeFileAtomic: could not write .*weights.safetensors \(left unchanged\): disk on fire/);
  t.equal(fs.readFileSync(file, 'utf8'), 'old contents');
  t.same(fs.readdirSync(dir), ['weights.safetensors']);

  t.throws(() => writeFileAtomic(file, [Buffer.from('x'), 42 as never]), /expected Uint8Array chunks for 'data' but received number/);
  t.equal(fs.readFileSync(file, 'utf8'), 'old contents');
  t.same(fs.readdirSync(dir), ['weights.safetensors']);
});

t.test('a failing rename (the target is a folder) cleans up too', async (t) => {
  const dir = tempDir(t);
  const target = path.join(dir, 'taken');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'inside'), 'keep');
  t.throws(() => writeFileAtomic(target, 'data'), /kiln.writeFileAtomic: could not write .*taken/);
  t.equal(fs.readFileSync(path.join(target, 'inside'), 'utf8'), 'keep');
  t.same(fs.readdirSync(dir), ['taken']);
});

t.test('a read-only folder fails without touching the old file', { skip: process.platform === 'win32' || process.getuid?.() === 0 ? 'root ignores folder permissions' : false }, async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'x.json');
  fs.writeFileSync(file, 'old');
  fs.chmodSync(dir, 0o555);
  t.throws(() => writeFileAtomic(file, 'new'), /kiln.writeFileAtomic: could not write/);
  t.equal(fs.readFileSync(file, 'utf8'), 'old');
  t.same(fs.readdirSync(dir), ['x.json']);
});

t.test('a very long file name still gets a valid temporary name', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'w'.repeat(240));
  writeFileAtomic(file, 'long');
  t.equal(fs.readFileSync(file, 'utf8'), 'long');
});

t.test('bad arguments and missing folders', async (t) => {
  const dir = tempDir(t);
  t.throws(() => writeFileAtomic(path.join(dir, 'missing', 'x'), 'data'), /kiln.writeFileAtomic: could not write .*missing.x/);
  t.throws(() => writeFileAtomic(path.join(dir, 'x'), 42 as never), /expected a string, a Uint8Array or an iterable of Uint8Array for 'data' but received number/);
  t.throws(() => writeFileAtomic(path.join(dir, 'x'), null as never), /received null/);
  t.throws(() => writeFileAtomic('', 'x'), /expected a file path for 'file'/);
  t.same(fs.readdirSync(dir), []);
});
