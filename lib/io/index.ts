// kiln's file formats: atomic writes and safetensors weights.
export { writeFileAtomic } from './atomic-write';
export type { AtomicWriteData } from './atomic-write';
export { writeSafetensors, readSafetensors, encodeSafetensors, decodeSafetensors, MAX_HEADER_BYTES } from './safetensors';
export type { NamedTensor, TensorLike, TensorMap, WritableTensorMap, SafetensorsContents } from './safetensors';
