// Eager functional ops: synchronous calls into the same native kernels the
// compiled training plan uses. For scripts, tests and kernel benchmarks.
export * from './gemm';
export * from './conv';
export * from './pooling';
export * from './elementwise';
export * from './loss';
export * from './normalization';
export * from './dropout';
export * from './optimizer';
