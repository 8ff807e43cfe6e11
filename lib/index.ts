/**
 * marlin-node: MARLIN quantized GEMM kernels for Node.js on NVIDIA GPUs.
 * Importing this module never throws: the native addon is loaded at the
 * first GPU call (MarlinError NOT_BUILT if it is missing), so quantization,
 * packing, conversions and probe() work without it. Helpers for tests
 * and benchmarks (float64 references, GPU timing, layout positions) are
 * in marlin-node/testing (lib/testing.ts).
 *
 * @packageDocumentation
 */
export { MarlinError, type MarlinErrorCode } from './errors';
export { Device, DeviceTensor, Event, Graph, Stream, probe, type DType, type HostArrayOf } from './device';
export { toHalf, fromHalf, halfToNumber, roundToHalf, toBfloat16, fromBfloat16, toHalves, fromHalves } from './fp16';
export { DEFAULT_FORMAT, describeFormat, type ActivationDType, type WeightFormat } from './formats';
export { quantize, dequantize, type QuantizedWeights, type QuantizeOptions, type WeightLayout } from './quantize';
export {
  SafetensorsFile,
  SafetensorsModel,
  openSafetensors,
  saveSafetensors,
  SafetensorsWriter,
  typedView,
  SAFETENSORS_DTYPES,
  type SafetensorsDType,
  type TypedArrayOf as SafetensorsTypedArrayOf,
  type Tensor as SafetensorsTensor,
  type TensorInfo as SafetensorsTensorInfo,
  type TensorToWrite,
  type TensorEntry as SafetensorsTensorEntry,
  type SafetensorsLayout,
  type ReadOptions as SafetensorsReadOptions,
  parseQuantizationConfig,
  readQuantizationConfig,
  type QuantizationConfig,
  type GptqConfig,
  type GptqZeroConvention,
  type AwqConfig,
  type MarlinConfig,
  gptqToQuantized,
  gptqLayer,
  awqToQuantized,
  awqLayer,
  marlinToQuantized,
  marlinToPacked,
  toQuantized,
  quantizedLayerNames,
  readLayerTensors,
  readQuantizedLayer,
  LAYER_TENSORS,
  type CheckpointTensor,
  type CheckpointLayer,
  type LayerSource,
  type TensorSource,
  type GptqTensors,
  type AwqTensors,
  type MarlinTensors,
} from './checkpoint';
export { quantizeAsync, quantizeAndPackAsync, type AsyncOptions, type QuantizeAsyncOptions } from './quantize-async';
export { packQuantized } from './pack-layer';
export {
  GptqQuantizer,
  gptqQuantizeOnGpu,
  gptqQuantizeOnHost,
  gptqTensorShapes,
  type GptqQuantizeOptions,
  type GptqLayerTensors,
} from './gptq-quantize';
export {
  quantizeModel,
  isQuantizedLinear,
  gptqQuantizationConfig,
  type QuantizeModelOptions,
  type QuantizeModelReport,
  type QuantizeProgress,
  type LayerQuantizer,
} from './quantize-model';
export {
  packWeights,
  unpackWeights,
  packScales,
  unpackScales,
  packZeros,
  unpackZeros,
} from './layout';
export { QuantizedLinear, DEFAULT_MAX_PAR, type ForwardOptions, type LayerOptions, type RunOptions, type WarmupOptions, type PackedLayer, type CheckpointLayerOptions } from './linear';
export { RepackScratch, planRepack, repackOnHost, type RepackPlan } from './repack';
export {
  loadQuantizedModel,
  planModelLoad,
  PIECE_BYTES,
  type LoadOptions,
  type LoadProgress,
  type LoadStats,
  type LoadPlan,
  type LoadStep,
  type QuantizedModel,
} from './model';
export {
  chooseKernel,
  compiledVariants,
  compiledTiles,
  WGMMA_SPLITS,
  warmupBatches,
  targetOf,
  setKernelTable,
  getKernelTable,
  DEFAULT_KERNEL_TABLE,
  type Tile,
  type KernelRule,
  type KernelTable,
  type KernelPlan,
  type KernelTarget,
  type KernelOverrides,
  type KernelProblem,
} from './chooser';
export { checkSetup, selfTest, cudaVersionString, type SetupReport, type GpuReport, type SelfTestResult } from './setup';
export { fp16Matmul, hasCublas } from './baseline';
export { K_MULTIPLE, N_MULTIPLE, GROUP_SIZE, GROUP_SIZES, WEIGHT_BITS, type GroupSize, type WeightBits } from './shapes';
export type { ProbeResult, DeviceProperties, MemoryInfo, VariantInfo, KernelFamily } from './native';
export { KERNEL_FAMILIES } from './native';
