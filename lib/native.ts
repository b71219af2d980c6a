// Loads the compiled addon once. Each area's TypeScript module declares the
// slice of the addon's interface it uses, so this file knows no kernel.
import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: Record<string, unknown> | undefined;

/** The package's root: the nearest folder above this file with kiln's package.json. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if (JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'kiln') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`kiln: cannot find kiln's package.json above ${__dirname}`);
    dir = parent;
  }
}

/** The addon's exports; KILN_ADDON_PATH selects another build (e.g. a sanitizer build). */
export function loadAddon<T = Record<string, unknown>>(): T {
  if (cached) return cached as T;
  const root = packageRoot();
  const candidates = process.env.KILN_ADDON_PATH
    ? [path.resolve(process.env.KILN_ADDON_PATH)]
    : [path.join(root, 'build', 'Release', 'kiln.node'), path.join(root, 'build-cmake', 'Release', 'kiln.node')];
  const failures: string[] = [];
  for (const candidate of candidates) {
    if (!fs.existsSync(candidate)) {
      failures.push(`${candidate}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      cached = require(candidate) as Record<string, unknown>;
      return cached as T;
    } catch (error) {
      failures.push(`${candidate}: ${(error as Error).message}`);
    }
  }
  throw new Error(
    [
      'kiln: could not load the native addon.',
      'Tried:',
      ...failures.map((line) => `  - ${line}`),
      'Possible solutions:',
      '  - Build it: run `npm install` (or `npx node-gyp rebuild`) in the kiln folder; it needs g++, make and python3.',
      '  - Or build with cmake-js: `npm run build:cmake`.',
      '  - If KILN_ADDON_PATH is set, check that it points at a kiln.node file.',
    ].join('\n'),
  );
}
