/**
 * marlin-node: MARLIN FP16 x INT4 GEMM kernels for Node.js on NVIDIA GPUs.
 * Importing this module loads the native addon (MarlinError NOT_BUILT if it
 * is missing).
 */
export { MarlinError, type MarlinErrorCode } from './errors';
export { Device, DeviceTensor, Event, Stream, probe, type DType, type HostArrayOf } from './device';
export { toHalf, fromHalf, halfToNumber, roundToHalf } from './fp16';
export { quantize, dequantize, type QuantizedWeights } from './quantize';
export { packWeights, unpackWeights, packScales, unpackScales, weightPosition, scalePosition } from './layout';
export {
  QuantizedLinear,
  compiledVariants,
  compiledTiles,
  DEFAULT_MAX_PAR,
  type ForwardOptions,
  type PackedLayer,
} from './linear';
export {
  selectTile,
  setKernelTable,
  getKernelTable,
  DEFAULT_KERNEL_TABLE,
  type Tile,
  type KernelRule,
  type KernelTable,
} from './select';
export { referenceMatmul, referenceQuantizedMatmul, relativeError } from './reference';
export { fp16Matmul, hasCublas } from './baseline';
export { timeCalls, median, type GpuTimes } from './timing';
export { K_MULTIPLE, N_MULTIPLE, GROUP_SIZE, type GroupSize } from './shapes';
export type { ProbeResult, DeviceProperties, MemoryInfo, VariantInfo } from './native';
