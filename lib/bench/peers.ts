// The peer frameworks `kiln bench` compares against, each in its own
// long-lived child process (see peer-process.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../native';
import { PeerProcess, type PeerHello } from './peer-process';

export const PEER_NAMES = ['torch', 'tfjs-cpu', 'tfjs-wasm'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

export interface Peer {
  name: PeerName;
  framework: string;
  backend: string;
  process?: PeerProcess;
  hello: PeerHello;
  /** Why the peer is missing, when it is. */
  missing?: string;
}

export interface PeerOptions {
  python: string;
}

function describe(name: PeerName): { framework: string; backend: string } {
  if (name === 'torch') return { framework: 'pytorch', backend: 'cpu' };
  return { framework: 'tfjs', backend: name === 'tfjs-cpu' ? 'cpu' : 'wasm' };
}

function spawnPeer(name: PeerName, options: PeerOptions): PeerProcess | string {
  if (name === 'torch') {
    if (!fs.existsSync(options.python)) return `${options.python} not found (install Debian's python3-torch: apt-get install python3-torch)`;
    const script = path.join(packageRoot(), 'scripts', 'bench_torch.py');
    if (!fs.existsSync(script)) return `${script} not found`;
    return new PeerProcess(options.python, [script]);
  }
  const worker = path.join(__dirname, 'tfjs-worker.js');
  if (!fs.existsSync(worker)) return `${worker} not found (run the TypeScript build)`;
  return new PeerProcess(process.execPath, [worker, name === 'tfjs-cpu' ? 'cpu' : 'wasm']);
}

/** The peer's process, started again if a timeout killed it. */
export async function livePeerProcess(peer: Peer, options: PeerOptions): Promise<PeerProcess> {
  if (peer.process?.alive) return peer.process;
  const spawned = spawnPeer(peer.name, options);
  if (typeof spawned === 'string') throw new Error(spawned);
  const hello = await spawned.hello();
  if (!hello.ready) throw new Error(hello.error ?? 'did not start again');
  peer.process = spawned;
  return spawned;
}

export async function startPeer(name: PeerName, options: PeerOptions): Promise<Peer> {
  const { framework, backend } = describe(name);
  const spawned = spawnPeer(name, options);
  if (typeof spawned === 'string') return { name, framework, backend, hello: { ready: false }, missing: spawned };
  const hello = await spawned.hello();
  if (!hello.ready) {
    spawned.close();
    return { name, framework, backend, hello, missing: hello.error ?? 'did not start' };
  }
  return { name, framework, backend, hello, process: spawned };
}
