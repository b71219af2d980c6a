// Writes a file so that readers (and a crash) see either the old contents or
// the new ones, never half of each: write a temporary file beside the target,
// flush it to disk, rename it over the target (atomic within one file system),
// then flush the directory so the rename itself survives a power cut.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type AtomicWriteData = string | Uint8Array | Iterable<Uint8Array>;

function writeChunk(fd: number, chunk: Uint8Array): void {
  let written = 0;
  while (written < chunk.byteLength) written += fs.writeSync(fd, chunk, written, chunk.byteLength - written);
}

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or flush a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Replaces `file` with `data` atomically. `data` may be a string (UTF-8), bytes,
 * or an iterable of byte chunks written in order (so large outputs need not be
 * concatenated). If anything fails, including the iterable throwing midway, the
 * temporary file is removed and the old `file` is left as it was.
 */
export function writeFileAtomic(file: string, data: AtomicWriteData): void {
  if (typeof file !== 'string' || file === '') {
    throw new TypeError(`kiln.writeFileAtomic: expected a file path for 'file' but received ${typeof file}`);
  }
  const iterable = data !== null && typeof data === 'object' && Symbol.iterator in data;
  if (typeof data !== 'string' && !(data instanceof Uint8Array) && !iterable) {
    throw new TypeError(`kiln.writeFileAtomic: expected a string, a Uint8Array or an iterable of Uint8Array for 'data' but received ${data === null ? 'null' : typeof data}`);
  }
  const target = path.resolve(file);
  const dir = path.dirname(target);
  // The name stays well under the usual 255-byte limit even for long targets.
  const temporary = path.join(dir, `.${path.basename(target).slice(0, 100)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  let keptMode: number | undefined;
  try {
    keptMode = fs.statSync(target).mode & 0o777; // the replacement keeps the permissions of the file it replaces
  } catch {
    // a new file: default mode, less the umask
  }
  let fd: number | undefined;
  try {
    fd = fs.openSync(temporary, 'wx', keptMode ?? 0o666); // wx: fail rather than share a name with anything
    if (keptMode !== undefined && process.platform !== 'win32') fs.fchmodSync(fd, keptMode); // past the umask
    if (typeof data === 'string') writeChunk(fd, Buffer.from(data, 'utf8'));
    else if (data instanceof Uint8Array) writeChunk(fd, data);
    else {
      for (const chunk of data) {
        if (!(chunk instanceof Uint8Array)) throw new TypeError(`kiln.writeFileAtomic: expected Uint8Array chunks for 'data' but received ${typeof chunk}`);
        writeChunk(fd, chunk);
      }
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(temporary, target);
  } catch (error) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; the original error matters more
      }
    }
    try {
      fs.unlinkSync(temporary);
    } catch {
      // never created, or already gone
    }
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`kiln.writeFileAtomic: could not write ${target} (left unchanged): ${message}`, { cause: error });
  }
  fsyncDirectory(dir);
}
