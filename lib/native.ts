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

export interface VariantInfo {
  mBlocks: number;
  tileK: number;
  tileN: number;
  /** 128, or -1 for one scale per output column. */
  groupSize: number;
  /** cp.async pipeline depth; the launcher runs the deepest that fits the device. */
  stages: number;
  sharedMemoryBytes: number;
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
  /** Byte offsets; see csrc/addon/gemm_binding.cc for the argument order. */
  gemm(
    a: NativeDeviceBuffer, aOffset: number,
    b: NativeDeviceBuffer, bOffset: number,
    scales: NativeDeviceBuffer, scalesOffset: number,
    c: NativeDeviceBuffer, cOffset: number,
    workspace: NativeDeviceBuffer, workspaceOffset: number,
    stream: NativeStream,
    m: number, n: number, k: number, groupSize: number,
    tileK: number, tileN: number, sms: number, maxPar: number,
    stages?: number,
  ): void;
  /** FP16 [k, n] row-major weights from the Marlin layout (byte offsets). */
  dequantizeWeights(
    b: NativeDeviceBuffer, bOffset: number,
    scales: NativeDeviceBuffer, scalesOffset: number,
    out: NativeDeviceBuffer, outOffset: number,
    stream: NativeStream, k: number, n: number, groupSize: number,
  ): void;
  variants(): VariantInfo[];
  /** Workspace bytes a call needs (counters + one partial-sum slot per SM). */
  workspaceBytes(n: number, maxPar: number, smCount: number): number;
  /** cuBLAS FP16 GEMM, C = A B, all FP16 row-major; throws NO_CUBLAS without cuBLAS. */
  fp16Gemm(
    a: NativeDeviceBuffer, aOffset: number,
    b: NativeDeviceBuffer, bOffset: number,
    c: NativeDeviceBuffer, cOffset: number,
    stream: NativeStream, m: number, n: number, k: number,
  ): void;
  hasCublas(): boolean;
  /** Queues a kernel that only waits `microseconds` on the stream. */
  delay(stream: NativeStream, microseconds: number): void;
  /**
   * Test hook, no GPU needed: the last step of download() (the copy into
   * `destination`, off the JS thread) from a host block whose 32-bit word i
   * is i ^ seed. destination.byteLength must be a multiple of 4.
   */
  readbackSelfTest(destination: ArrayBuffer, seed: number): Promise<void>;
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

/** The loaded addon. Importing this module throws NOT_BUILT if it is missing. */
export const native: NativeBinding = loadAddon(packageRoot());
