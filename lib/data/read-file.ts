// Reads a data file whole, unzipping it when it starts with the gzip magic,
// so loaders accept `x` and `x.gz` alike. Errors name the file.
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

/**
 * Far above the files these loaders read (Fashion-MNIST train images are 47 MB
 * unzipped, EMNIST's largest 550 MB), low enough to stop a gzip bomb early.
 */
export const MAX_UNZIPPED_BYTES = 1024 * 1024 * 1024;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function readDataFile(fn: string, file: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new Error(`kiln.${fn}: cannot read ${file}: ${(error as Error).message}`);
  }
  if (!isGzip(bytes)) return bytes;
  try {
    return zlib.gunzipSync(bytes, { maxOutputLength: MAX_UNZIPPED_BYTES });
  } catch (error) {
    throw new Error(`kiln.${fn}: ${file} starts like a gzip file but does not unzip: ${(error as Error).message}`);
  }
}

/** The first of the candidate paths that exists as a file, or an error listing all of them. */
export function findFile(fn: string, what: string, candidates: readonly string[]): string {
  for (const candidate of candidates) {
    try {
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // try the next name
    }
  }
  throw new Error(`kiln.${fn}: cannot find the ${what}; looked for ${candidates.join(', ')}`);
}
