/**
 * The only file that loads build/Release/marlin.node, and the exact shape of
 * what it exports: the native boundary in one place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { MarlinError } from './errors';

/** What probe() reports; it never throws. */
export interface ProbeResult {
  available: boolean;
  /** Why no device is usable (null when one is). */
  reason: string | null;
  code?: 'NO_GPU';
  deviceCount: number;
  /** CUDA versions as 1000 * major + 10 * minor; driver 0 = no driver. */
  runtimeVersion: number;
  driverVersion: number;
  devices: Array<DeviceProperties & { usable: boolean; reason?: string }>;
}

export interface DeviceProperties {
  index: number;
  name: string;
  major: number;
  minor: number;
  multiProcessorCount: number;
  totalGlobalMem: number;
  l2CacheSize: number;
  sharedMemPerBlockOptin: number;
  memoryBusWidth: number;
  memoryClockRateKHz: number;
  clockRateKHz: number;
  pciBusId: number;
}

/** Free and total device memory, in bytes. */
export interface MemoryInfo {
  free: number;
  total: number;
}

export interface NativeStream {
  readonly device: number;
  readonly disposed: boolean;
  synchronize(): Promise<void>;
  /** cudaStreamWaitEvent: later work on this stream waits for the event's most recent record. */
  waitFor(event: NativeEvent): void;
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

/** One compiled kernel variant (the kernel table, csrc/kernels/table.json, generates them). */
export interface VariantInfo {
  family: 'mma';
  dtype: 'float16' | 'bfloat16';
  bits: number;
  /** 32, 64, 128, or -1 for one group per output column. */
  groupSize: number;
  zeroPoints: boolean;
  tileK: number;
  tileN: number;
  mBlocks: number;
  /** Compute capability (e.g. 90) whose machine code (or PTX) holds this variant. */
  arch: number;
  /** cp.async pipeline depth: the deepest that fits that architecture's shared memory. */
  stages: number;
  sharedMemoryBytes: number;
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
}

/** The GPU a plan is for: compute capability 10 * major + minor, opt-in shared memory per block, SMs. */
export interface NativeTarget {
  arch: number;
  smemOptin: number;
  smCount: number;
}

/** How a call runs (csrc/kernels/gemm.h Plan). */
export interface NativePlan {
  family: 'mma';
  tileK: number;
  tileN: number;
  stages: number;
  codeArch: number;
  blocks: number;
  maxPar: number;
  launches: number;
  /** 16-row blocks of the variants used: 4 for launches of 64-row problems, fewer for a last short one. */
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
  plan(m: number, overrides?: NativeOverrides): NativePlan;
  dequantize(out: NativeDeviceBuffer, stream: NativeStream): void;
}

export interface NativeGemmDescriptor {
  weights: NativeDeviceBuffer;
  scales: NativeDeviceBuffer;
  zeros: NativeDeviceBuffer | null;
  /** Act-order: input row of each kernel row (int32, -1 = padding). */
  rows: NativeDeviceBuffer | null;
  n: number;
  /** Kernel rows. */
  k: number;
  /** Columns of x (k, or fewer with act-order padding). */
  inputK: number;
  format: NativeFormat;
}

export interface NativeBuild {
  archs: number[];
  ptxArch: number;
  kMultiple: number;
  nMultiple: number;
  rowsPerProblem: number;
  maxParLimit: number;
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
  /** Workspace bytes a call needs (counters + one partial-sum slot per SM). */
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
  /** Queues a kernel that only waits `microseconds` on the stream. */
  delay(stream: NativeStream, microseconds: number): void;
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

/** Where the addon is built, relative to the package root. */
export const ADDON_PATH = path.join('build', 'Release', 'marlin.node');

const BUILD_HELP = [
  'Build it from the package directory:',
  '  npm rebuild marlin-node          (in a project that depends on marlin-node)',
  '  npm run build                    (in a checkout of marlin-node)',
  'npm 11+ may skip dependency install scripts: first run',
  '  npm install-scripts approve marlin-node   (pnpm: pnpm approve-builds)',
  'The build needs the CUDA toolkit (nvcc), cmake and a C++17 compiler;',
  'MARLIN_CUDA_ARCHS (e.g. "90") limits the GPU architectures built.',
].join('\n');

function packageRoot(): string {
  // lib/*.ts runs from lib/ under ts-node/jest and from dist/ once compiled.
  return path.resolve(__dirname, '..');
}

/** Loads the addon built under `root`; throws NOT_BUILT with the fix if it is missing or broken. */
export function loadAddon(root: string): NativeBinding {
  const file = path.join(root, ADDON_PATH);
  if (!fs.existsSync(file)) {
    throw new MarlinError('NOT_BUILT', `marlin-node's native addon is not built (${file} is missing).\n${BUILD_HELP}`);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(file) as NativeBinding;
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new MarlinError('NOT_BUILT', `marlin-node's native addon at ${file} failed to load: ${detail}\n${BUILD_HELP}`, {
      cause: error,
    });
  }
}

/** The addon file this package loads (absolute). */
export const ADDON_FILE = path.join(packageRoot(), ADDON_PATH);

/** The loaded addon. Importing this module throws NOT_BUILT if it is missing. */
export const native: NativeBinding = loadAddon(packageRoot());
