// The runtime knobs: which ISA the kernels use, and how many threads.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadAddon, packageRoot } from './native';
import { expectInteger } from './validate';

export type Isa = 'scalar' | 'avx2' | 'avx512';

interface RuntimeAddon {
  backend(): { isa: Isa; detectedIsa: Isa; threads: number; hardwareThreads: number };
  setNumThreads(threads: number): void;
  setIsa(isa: string): void;
}

const addon = () => loadAddon<RuntimeAddon>();

export interface BackendInfo {
  /** The instruction set the kernels use now. */
  isa: Isa;
  /** The best instruction set this CPU supports. */
  detectedIsa: Isa;
  threads: number;
  hardwareThreads: number;
  version: string;
}

export function backend(): BackendInfo {
  return { ...addon().backend(), version: version() };
}

export function setNumThreads(threads: number): void {
  addon().setNumThreads(expectInteger('setNumThreads', 'threads', threads, 1, 256));
}

/** Lowers (or restores) the ISA the kernels use; throws if the CPU lacks it. */
export function setIsa(isa: Isa): void {
  addon().setIsa(isa);
}

let cachedVersion: string | undefined;
export function version(): string {
  cachedVersion ??= (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cachedVersion;
}
