// kiln: fast CPU deep learning for Node.js.
export { Tensor } from './tensor';
export { backend, setNumThreads, setIsa, version } from './backend';
export type { BackendInfo, Isa } from './backend';
export * as ops from './ops';
