/**
 * The only file that loads the native addon (build/Release/marlin.node, or
 * the prebuilt prebuilds/<platform>-<arch>/marlin.node of a published
 * package), and the exact shape of what it exports: the native boundary in
 * one place. The addon is loaded at first use, so the CPU-only parts of the
 * package work where it is missing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { MarlinError } from './errors';

/** What probe() reports; it never throws. */
export interface ProbeResult {
  /** Whether at least one device is usable. */
  available: boolean;
  /** Why no device is usable (null when one is). */
  reason: string | null;
  /** NOT_BUILT: the addon is missing or does not load (reason: why, and how to build it). */
  code?: 'NO_GPU' | 'NOT_BUILT';
  /** CUDA devices present, usable or not (0 without a driver or the addon). */
  deviceCount: number;
  /** CUDA versions as 1000 * major + 10 * minor; driver 0 = no driver. */
  runtimeVersion: number;
  /** The driver's CUDA version, encoded like runtimeVersion (0: no driver). */
  driverVersion: number;
  /** The devices found, in index order: their properties, whether each is usable and, if not, why. */
  devices: Array<
    DeviceProperties & {
      /** Whether marlin-node can run on it: compute capability 8.0 or newer, and kernels for it in this build. */
      usable: boolean;
      /** Why it is not usable; absent when it is. */
      reason?: string;
    }
  >;
}

/** A CUDA device's properties, as the runtime reports them. */
export interface DeviceProperties {
  /** CUDA device ordinal. */
  index: number;
  /** Device name, e.g. "NVIDIA H100 80GB HBM3". */
  name: string;
  /** Compute capability major version (9 for sm_90). */
  major: number;
  /** Compute capability minor version (0 for sm_90). */
  minor: number;
  /** Streaming multiprocessors (SMs). */
  multiProcessorCount: number;
  /** Global memory, in bytes. */
  totalGlobalMem: number;
  /** L2 cache, in bytes. */
  l2CacheSize: number;
  /** Shared memory a block may opt in to, in bytes. */
  sharedMemPerBlockOptin: number;
  /** Global memory bus width, in bits (0 if the driver does not say). */
  memoryBusWidth: number;
  /** Peak memory clock, in kHz (0 if the driver does not say). */
  memoryClockRateKHz: number;
  /**
   * Peak memory bandwidth in GB/s, from the memory clock and bus width (two
   * transfers per clock, rounded; 3352 on an H100 SXM, 4814 on an H200),
   * 0 unless the driver gives both. The chooser's family price scales its
   * memory speeds by it.
   */
  peakMemoryGBps: number;
  /** Peak SM clock, in kHz (0 if the driver does not say). */
  clockRateKHz: number;
  /** PCI bus number of the device. */
  pciBusId: number;
}

/** Free and total device memory, in bytes. */
export interface MemoryInfo {
  /** Free device memory, in bytes (what every process together has left). */
  free: number;
  /** Total device memory, in bytes. */
  total: number;
}

export interface NativeStream {
  readonly device: number;
  readonly disposed: boolean;
  synchronize(): Promise<void>;
  /** cudaStreamWaitEvent: later work on this stream waits for the event's most recent record. */
  waitFor(event: NativeEvent): void;
  /** Starts recording the work queued on this stream into a CUDA graph (csrc/addon/capture.h). */
  beginCapture(): void;
  /** Ends the capture: the graph, or undefined when `discard`. Throws if CUDA invalidated the capture. */
  endCapture(discard: boolean): NativeGraph | undefined;
  readonly capturing: boolean;
  dispose(): void;
}

/** An instantiated CUDA graph, holding the device memory its work uses. */
export interface NativeGraph {
  readonly disposed: boolean;
  /** Nodes of the captured graph (kernels, copies, memsets). */
  readonly nodes: number;
  launch(stream: NativeStream): void;
  dispose(): void;
}

export interface NativeEvent {
  readonly disposed: boolean;
  /** The stream must be on the event's device. */
  record(stream: NativeStream): void;
  /** Settles once the work before the event's most recent record (as of the call) is done. */
  synchronize(): Promise<void>;
  /** GPU milliseconds from this event to `end` (same device); both must have completed. */
  elapsedMs(end: NativeEvent): number;
  dispose(): void;
}

export interface NativeDeviceBuffer {
  readonly bytes: number;
  readonly device: number;
  readonly disposed: boolean;
  upload(source: ArrayBufferView | ArrayBuffer, offset: number, stream: NativeStream): void;
  /**
   * Copies destination.byteLength bytes from `offset` into `destination` once
   * the work queued on `stream` so far has finished. The bytes are written
   * from another thread: until the Promise settles no JS code may touch
   * `destination` (see csrc/addon/host_copy.h).
   */
  download(destination: ArrayBuffer, offset: number, stream: NativeStream): Promise<void>;
  fill(byte: number, offset: number, length: number, stream: NativeStream): void;
  copyFrom(source: NativeDeviceBuffer, sourceOffset: number, offset: number, length: number, stream: NativeStream): void;
  dispose(): void;
}

/** The kernel families of csrc/kernels/table.json (the addon's FamilyName spells them the same). */
export const KERNEL_FAMILIES = Object.freeze(['mma', 'wgmma', 'decode'] as const);
export type KernelFamily = (typeof KERNEL_FAMILIES)[number];

/** One compiled kernel variant (the kernel table, csrc/kernels/table.json, generates them). */
export interface VariantInfo {
  /**
   * Kernel family: 'mma' (mma.sync, sm_80 and newer), 'wgmma' (warpgroup
   * MMA, compiled for sm_90a: H100-class GPUs only) or 'decode' (mma.sync
   * with the weights loaded straight into registers, up to 8 rows of grouped
   * formats, compiled for sm_90a; runs where the kernel table's `choose`
   * entries give it a call, or when a call asks for it).
   */
  family: KernelFamily;
  /** Activation and output element type. */
  dtype: 'float16' | 'bfloat16';
  /** Bits per quantized weight (4 or 8). */
  bits: number;
  /** 32, 64, 128, or -1 for one group per output column. */
  groupSize: number;
  /** Whether the variant applies per-group zero points (asymmetric weights). */
  zeroPoints: boolean;
  /** Elements of k (inFeatures) per k tile, the unit a block's share of k is counted in: a layer's k must be a multiple (decode: 16, one row of the packed weights). */
  tileK: number;
  /** Elements of k per pipeline stage: tileK, or two k tiles in the wgmma family's 32-, 48- and 64-row tiles of symmetric 4-bit formats (the second left out where a block's share ends after the first). */
  stageK: number;
  /** Output columns per block tile. */
  tileN: number;
  /** 16-row blocks of x per problem (mma: 1 to 4, up to 64 rows; wgmma: 2, 3, 4, 6 or 8, its 32-, 48-, 64-, 96- or 128-row tile; decode: 8-row tiles, 1). */
  mBlocks: number;
  /** Compute capability (e.g. 90) whose machine code (or PTX) holds this variant. */
  arch: number;
  /** cp.async pipeline depth: the deepest that fits that architecture's shared memory (decode: k16 rows each warp keeps in flight). */
  stages: number;
  /** Shared memory a block of this variant uses, in bytes. */
  sharedMemoryBytes: number;
  /** Its weight loads carry the L2 evict-first hint (table.json `evictFirst`, in sm_90a machine code only). */
  evictFirst: boolean;
  /** wgmma: the variant can run a stream-k launch (forward's `streamK`); false in the other families. */
  streamK: boolean;
}

/** The format fields the native side reads (lib/formats.ts WeightFormat). */
export interface NativeFormat {
  dtype: 'float16' | 'bfloat16';
  bits: number;
  groupSize: number;
  zeroPoints: boolean;
}

/** Caller overrides of the kernel choice; omitted fields are chosen. */
export interface NativeOverrides {
  tileK?: number;
  tileN?: number;
  stages?: number;
  sms?: number;
  maxPar?: number;
  family?: KernelFamily;
  splits?: number;
  streamK?: boolean;
}

/** The GPU a plan is for: compute capability 10 * major + minor, opt-in shared memory per block, SMs. */
export interface NativeTarget {
  /** Compute capability as 10 * major + minor (90 for sm_90). */
  arch: number;
  /** Shared memory a block may opt in to, in bytes (DeviceProperties.sharedMemPerBlockOptin). */
  smemOptin: number;
  /** Streaming multiprocessors (SMs). */
  smCount: number;
  /**
   * Peak memory bandwidth in GB/s, an integer (DeviceProperties.peakMemoryGBps);
   * omitted or 0: unknown, and the family price keeps the speeds of the H100
   * SXM it was fitted on (3352 GB/s) and no decode `choose` entry with a
   * least bandwidth per SM applies. Anything else is BAD_ARGUMENT.
   */
  memoryGBps?: number;
}

/** How a call runs (csrc/kernels/gemm.h Plan). */
export interface NativePlan {
  /**
   * Kernel family: the one a call forces; else, on H100-class GPUs (compute
   * capability 9.0) where the kernel table's `choose` entries say
   * (csrc/kernels/table.json), 'decode' for 1 to 8 rows of 4-bit layers cut
   * into 32 k shares per strip, of symmetric 8-bit ones, and of 8-bit ones
   * with zero points cut into 16 or fewer, and on GPUs of 30 GB/s or more of peak memory bandwidth per SM (an H200) symmetric 4-bit
   * ones of k >= 8192 cut into 4 shares, and ones cut into 16 (or 8 with k >= 8192) where the blocks leave the busiest SM at most
   * 64 KiB of weights beyond an even share, 'wgmma' for the formats it covers from 49 rows on layers of 16 or
   * more 256-column output tiles (17 at 97-128 rows; from 17 or 33 rows on wide or deep 4-bit ones, at 49-64 rows on narrower
   * ones with k of 2048-4096, at 49-128 rows on 12-15-tile ones with k >= 8192, and at 33-48 rows on 4-bit ones of 12-15 tiles
   * with k >= 8192 or 18-24 with k >= 3584: the table's entries; at 17-64 rows, in the formats its familyPrice
   * lists, the other family where that price says so), unless a tile, depth, block count or a
   * maxPar other than 16 is given. Else 'mma'.
   */
  family: KernelFamily;
  /** Elements of k (inFeatures) per k tile of the chosen block tile: the unit its blocks' shares of k are counted in (a stage holds one, or two: VariantInfo.stageK). */
  tileK: number;
  /** Output columns of the chosen block tile. */
  tileN: number;
  /** cp.async pipeline depth of the chosen variant. */
  stages: number;
  /** Architecture (10 * major + minor) whose machine code (or PTX) in this build runs on the target GPU. */
  codeArch: number;
  /** Thread blocks per launch. mma: at most one per SM (the `sms` override, else the SM count, or the kernel table's alignedBlocks or pricedBlocks count where an entry matches); wgmma: output tiles (column tiles x row tiles of 32, 48, 64, 96 or 128 rows) x splits, or with tailTiles > 0 the total of both launches, (tiles - tailTiles) x splits + tailTiles x tailSplits, or with streamK the launch's blocks (at most one per SM); decode: 64-column strips x splits. */
  blocks: number;
  /** mma: most 64-row problems run side by side in one launch when m > 64 (wgmma plans report it but run every row in one launch, or two: tailTiles). */
  maxPar: number;
  /** wgmma, decode: blocks that split k for each output tile (a thread block cluster); mma: 1. wgmma with tailTiles > 0: the first launch's. */
  splits: number;
  /**
   * wgmma: output tiles of a last, partial wave that a second launch runs, split tailSplits ways, after a first
   * launch of the whole waves before them (where the kernel table's cost model says that beats one launch); 0 otherwise.
   */
  tailTiles: number;
  /** wgmma: the second launch's split count where tailTiles > 0; 1 otherwise. */
  tailSplits: number;
  /**
   * wgmma, up to 64 rows (the 32-, 48- and 64-row tiles), and above on FP16 4-bit grouped formats (the 96- and 128-row tiles): one stream-k launch, whose `blocks` blocks (at most one per SM) share the output tiles' k
   * evenly and add each other's partial sums through the workspace, in a fixed order (where the kernel table's cost
   * model says that beats split counts, or forced: KernelOverrides.streamK); false otherwise.
   */
  streamK: boolean;
  /** decode: warps per block, each summing its share of the block's k; 0 for the other families. */
  warps: number;
  /** Kernel launches the call makes (0 when m is 0). */
  launches: number;
  /** 16-row blocks of the variants used. mma: 4 for launches of 64-row problems, fewer for a last short one; wgmma: [2], [3], [4], [6] or [8], the 32-, 48-, 64-, 96- or 128-row tile; decode: [1], one 8-row tile. */
  rowBlocks: number[];
}

export interface NativeTileRule {
  maxBatch: number;
  minN: number;
  tileK: number;
  tileN: number;
}

/** One layer's side of a GEMM (csrc/addon/gemm_layer.h). */
export interface NativeGemm {
  run(
    x: NativeDeviceBuffer,
    out: NativeDeviceBuffer,
    workspace: NativeDeviceBuffer,
    stream: NativeStream,
    m: number,
    scratch?: NativeDeviceBuffer | null,
    overrides?: NativeOverrides,
  ): void;
  /**
   * run()'s arguments (default overrides; not for act-order layers) checked
   * once: the call's run() queues what run() would (csrc/addon/gemm_call.h).
   */
  bind(x: NativeDeviceBuffer, out: NativeDeviceBuffer, workspace: NativeDeviceBuffer, stream: NativeStream, m: number): NativeGemmCall;
  plan(m: number, overrides?: NativeOverrides): NativePlan;
  /** Does now, on the layer's device, what the first launch of each kernel run() could pick for 1..maxM rows does once. */
  prepareKernels(maxM: number, overrides?: NativeOverrides): void;
  dequantize(out: NativeDeviceBuffer, stream: NativeStream): void;
  /**
   * Host ns per launch of run()'s first GEMM kernel, launched `calls` times
   * straight from C++ (benchmarks); `whole`: per call of the C++ launcher
   * (checks, plan and launches) instead.
   */
  timeBareLaunches(
    x: NativeDeviceBuffer,
    out: NativeDeviceBuffer,
    workspace: NativeDeviceBuffer,
    stream: NativeStream,
    m: number,
    scratch: NativeDeviceBuffer | null,
    overrides: NativeOverrides | undefined,
    calls: number,
    whole: boolean,
  ): number;
}

/** A GEMM call checked once by NativeGemm.bind(). */
export interface NativeGemmCall {
  run(): void;
}

export interface NativeGemmDescriptor {
  weights: NativeDeviceBuffer;
  scales: NativeDeviceBuffer;
  zeros: NativeDeviceBuffer | null;
  /**
   * Grouped zero-point formats only (usesScaledZeros): [groups, n] in the
   * activation type, filled by the constructor on `stream` with (2^(bits-1) - z) * s.
   */
  scaledZeros?: NativeDeviceBuffer | null;
  /** Act-order: input row of each kernel row (int32, -1 = padding). */
  rows: NativeDeviceBuffer | null;
  n: number;
  /** Kernel rows. */
  k: number;
  /** Columns of x (k, or fewer with act-order padding). */
  inputK: number;
  format: NativeFormat;
  /** The stream the arrays were uploaded on: where scaledZeros is made (needed with it). */
  stream?: NativeStream;
}

/** The GPTQ quantizer's problem (csrc/kernels/quantize.h GptqQuantizeProblem). */
export interface NativeGptqProblem {
  /** Output features: rows of the [n, k] weights. */
  n: number;
  /** Input features. */
  k: number;
  inputDtype: 'float16' | 'bfloat16';
  scaleDtype: 'float16' | 'bfloat16';
  bits: number;
  /** 32, 64, 128, or -1 for one group per output column. */
  groupSize: number;
  zeroPoints: boolean;
  /** Subtracted from every packed qzeros word modulo 2^32 (the zero-point convention). */
  zeroWordOffset: number;
}

/** Device buffers of one gptqQuantize() call: the [n, k] weights in, the GPTQ tensors out (quantize.h GptqQuantizeOutputs). */
export interface NativeGptqBuffers {
  weights: NativeDeviceBuffer;
  qweight: NativeDeviceBuffer;
  qzeros: NativeDeviceBuffer;
  scales: NativeDeviceBuffer;
  gIdx: NativeDeviceBuffer;
  /** Scratch: one byte per (group, column). */
  zeros: NativeDeviceBuffer;
  /** Two uint64: first non-finite weight (row * n + col), first scale out of range (group * n + col); all ones: none. */
  findings: NativeDeviceBuffer;
}

/** gptqQuantizeHost()'s results; badWeight and badScale as in NativeGptqBuffers.findings, -1 for none. */
export interface NativeGptqHostResult {
  qweight: Int32Array;
  qzeros: Int32Array;
  scales: Uint16Array;
  gIdx: Int32Array;
  badWeight: number;
  badScale: number;
}

/**
 * The sizes of a repack (csrc/kernels/repack.h): a GPTQ or AWQ qweight of
 * inputK rows and n columns into the Marlin layout of k kernel rows.
 */
export interface NativeRepackSizes {
  /** 'gptq': int32 [inputK * bits / 32, n] packed along k; 'awq': int32 [inputK, n * bits / 32] interleaved along n. */
  layout: 'gptq' | 'awq';
  bits: number;
  inputK: number;
  /** Kernel rows: a multiple of 16; inputK without rows. */
  k: number;
  n: number;
  /** Rows per kernel group, for padding rows that take their group's zero point (with zeros). */
  groupRows?: number;
}

/** repackWeights' buffers: all on the stream's device. */
export interface NativeRepackDescriptor extends NativeRepackSizes {
  source: NativeDeviceBuffer;
  /** [k / 16, n * bits / 2] int32. */
  out: NativeDeviceBuffer;
  /** int32 [k]: source row of each kernel row; outside 0..inputK-1 (-1): padding. */
  rows: NativeDeviceBuffer | null;
  /** Packed zero points [k / groupRows, n / 4] int32 (Marlin order): padding rows take them; null: 2^(bits-1). */
  zeros: NativeDeviceBuffer | null;
}

/** repackWeightsOnHost's arrays: the same as repackWeights', in host memory. */
export interface NativeHostRepackDescriptor extends NativeRepackSizes {
  source: Int32Array;
  rows: Int32Array | null;
  zeros: Int32Array | null;
}

export interface NativeBuild {
  archs: number[];
  ptxArch: number;
  kMultiple: number;
  nMultiple: number;
  rowsPerProblem: number;
  maxParLimit: number;
  /** The nvcc that compiled the kernels, "major.minor.build" (e.g. "13.0.88"). */
  nvcc: string;
  /** MARLIN_EVICT_FIRST at build time: -1 where table.json's evictFirst puts the hint, 0 nowhere, 1 everywhere. */
  evictFirstOption: number;
}

export interface NativeBinding {
  deviceCount(): number;
  deviceProperties(device: number): DeviceProperties;
  probe(): ProbeResult;
  versions(): { runtime: number; driver: number };
  /** cudaMemGetInfo on `device`; throws NO_GPU if it does not exist. */
  memoryInfo(device: number): MemoryInfo;
  DeviceBuffer: new (device: number, bytes: number) => NativeDeviceBuffer;
  Stream: new (device: number) => NativeStream;
  Event: new (device: number) => NativeEvent;
  Gemm: new (descriptor: NativeGemmDescriptor) => NativeGemm;
  variants(): VariantInfo[];
  build(): NativeBuild;
  /** Which of this build's code runs on compute capability `arch` (0: none). */
  codeArch(arch: number): number;
  /** The pure kernel chooser (no GPU needed). */
  plan(problem: { m: number; n: number; k: number; format: NativeFormat }, target: NativeTarget, overrides?: NativeOverrides): NativePlan;
  /** Tile rules of `arch` (0: the default set), or null when it has no set of its own. */
  tileRules(arch: number): NativeTileRule[] | null;
  /** Replaces arch's rules (null: removes them; arch 0 then gets the built-in defaults back). */
  setTileRules(arch: number, rules: NativeTileRule[] | null): void;
  resetTileRules(): void;
  /**
   * Programmatic dependent launch of the GEMM kernels and the act-order
   * gather on sm_90+ (on unless MARLIN_PDL=0): sets it when `on` is given,
   * returns it.
   */
  programmaticLaunch(on?: boolean): boolean;
  /**
   * The GEMM launches' L2 access-policy window marking the layer's weights
   * streaming (on unless MARLIN_L2_STREAMING=0): sets it when `on` is
   * given, returns it.
   */
  streamingWeights(on?: boolean): boolean;
  /** Workspace bytes a call needs (counters + two partial-sum slots per SM). */
  workspaceBytes(n: number, maxPar: number, smCount: number): number;
  /** cuBLAS GEMM, C = A B, all FP16 (or all BF16) row-major; throws NO_CUBLAS without cuBLAS. */
  fp16Gemm(
    a: NativeDeviceBuffer, aOffset: number,
    b: NativeDeviceBuffer, bOffset: number,
    c: NativeDeviceBuffer, cOffset: number,
    stream: NativeStream, m: number, n: number, k: number,
    dtype?: 'float16' | 'bfloat16',
  ): void;
  hasCublas(): boolean;
  /** Queues RTN quantization of [n, k] weights into GPTQ tensors on `stream` (csrc/kernels/quantize.h). */
  gptqQuantize(descriptor: NativeGptqProblem & NativeGptqBuffers, stream: NativeStream): void;
  /** The same computation on the host, synchronously (no GPU needed). */
  gptqQuantizeHost(descriptor: NativeGptqProblem & { weights: Uint16Array }): NativeGptqHostResult;
  /** Queues the repack of a GPTQ / AWQ qweight into the Marlin layout on the stream. */
  repackWeights(descriptor: NativeRepackDescriptor, stream: NativeStream): void;
  /** The same repack on the CPU (the kernel's own tile functions; no GPU needed): the packed words. */
  repackWeightsOnHost(descriptor: NativeHostRepackDescriptor): Int32Array;
  /** Queues a kernel that only waits `microseconds` on the stream. */
  delay(stream: NativeStream, microseconds: number): void;
  /** Host ns per launch of an empty kernel, `calls` launches back to back from C++ (benchmarks). */
  timeEmptyLaunches(stream: NativeStream, calls: number): number;
  /**
   * Test hook, no GPU needed: the last step of download() (the copy into
   * `destination`, off the JS thread) from a source whose 32-bit word i is
   * i ^ seed. destination.byteLength must be a multiple of 4. Without
   * `chunks`, from one host block, as a small download; with it, a chunk at
   * a time through two buffers of chunkBytes, as a large download (waiting
   * for chunk failAtChunk then fails with `cudaError`, default
   * cudaErrorUnknown). See csrc/addon/host_copy.h.
   */
  readbackSelfTest(destination: ArrayBuffer, seed: number, chunks?: ReadbackSelfTestChunks): Promise<void>;
  /**
   * Test hook, no GPU needed: runs steps on a pinned staging pool of its own
   * (csrc/addon/pinned_pool.h), with plain host memory standing in for
   * pinned memory. A step n >= 0 acquires n bytes; -(i + 1) releases the
   * i-th block acquired. Resolves once the unpinning it queued has run.
   */
  pinnedPoolSelfTest(steps: readonly number[]): Promise<PinnedPoolTrace>;
}

/** readbackSelfTest's chunked copy: the chunk size, and a failure to simulate. */
export interface ReadbackSelfTestChunks {
  /** A positive multiple of 4. */
  chunkBytes: number;
  /** Index of the chunk whose copy fails; none by default. */
  failAtChunk?: number;
  /** The CUDA error it fails with (1..9999; default 999, cudaErrorUnknown). */
  cudaError?: number;
}

/** What pinnedPoolSelfTest's pool did, block sizes in bytes, in order. */
export interface PinnedPoolTrace {
  /** Blocks pinned (on the calling thread). */
  pinned: number[];
  /** Blocks unpinned on the waiter thread. */
  unpinnedOnWaiter: number[];
  /** How many blocks were unpinned on the calling thread: none should be. */
  unpinnedOnJsThread: number;
  /** Bytes of the idle blocks the pool keeps at the end. */
  idleBytes: number;
}

/** Where the install script builds the addon, relative to the package root. */
export const ADDON_PATH = path.join('build', 'Release', 'marlin.node');
/** Where a published package carries a prebuilt addon for this platform (see scripts/prebuild.js). */
export const PREBUILD_PATH = path.join('prebuilds', `${process.platform}-${process.arch}`, 'marlin.node');

const BUILD_HELP = [
  'Build it from the package directory:',
  '  npm rebuild marlin-node          (in a project that depends on marlin-node)',
  '  npm run build                    (in a checkout of marlin-node)',
  'npm 11+ may skip dependency install scripts: first run',
  '  npm install-scripts approve marlin-node   (pnpm: pnpm approve-builds)',
  'The build needs the CUDA toolkit 12.x or 13.x (nvcc), CMake 3.18+ and a C++17 compiler;',
  'MARLIN_CUDA_ARCHS (e.g. "90") limits the GPU architectures built.',
].join('\n');

/**
 * Loads the addon under `root`: the local build if there is one, else the
 * prebuilt binary. Throws NOT_BUILT, saying what was tried and how to build
 * it, if neither loads.
 */
export function loadAddon(root: string): NativeBinding {
  const tried: string[] = [];
  let cause: unknown;
  for (const file of [path.join(root, ADDON_PATH), path.join(root, PREBUILD_PATH)]) {
    if (!fs.existsSync(file)) continue;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const addon = require(file) as NativeBinding;
      loadedFile = file;
      return addon;
    } catch (error) {
      cause = error;
      tried.push(`${file} failed to load: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const what = tried.length
    ? `marlin-node's native addon does not load: ${tried.join('; ')}`
    : `marlin-node's native addon is not built (${path.join(root, ADDON_PATH)} is missing, and there is no prebuilt ${path.join(root, PREBUILD_PATH)}).`;
  throw new MarlinError('NOT_BUILT', `${what}\n${BUILD_HELP}`, cause === undefined ? undefined : { cause });
}

/**
 * The package root: lib/*.ts runs from lib/ under ts-node and jest, and from
 * dist/ once compiled. MARLIN_TEST_PACKAGE_ROOT replaces it, for tests only
 * (to run the package as if its addon were missing).
 */
function packageRoot(): string {
  return process.env.MARLIN_TEST_PACKAGE_ROOT || path.resolve(__dirname, '..');
}

let binding: NativeBinding | undefined;
let loadError: MarlinError | undefined;
let loadedFile: string | undefined;

/** The file the addon was loaded from (the local build or the prebuilt binary); undefined before the first use. */
export function addonFile(): string | undefined {
  return loadedFile;
}

function loaded(): NativeBinding {
  if (binding) return binding;
  if (loadError) throw loadError;
  try {
    binding = loadAddon(packageRoot());
    return binding;
  } catch (error) {
    loadError = error as MarlinError;
    throw loadError;
  }
}

/**
 * The addon, loaded at the first property read: importing this module never
 * throws; the first use of `native.<anything>` throws NOT_BUILT if the addon
 * is missing or does not load (and every later use throws the same error).
 */
export const native: NativeBinding = new Proxy({} as NativeBinding, {
  get: (_, name): unknown => Reflect.get(loaded(), name),
});
