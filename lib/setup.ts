/**
 * What this machine offers marlin-node: where the addon was loaded from and
 * what it was built for, the CUDA runtime and driver, each GPU and whether
 * the build has kernels for it, cuBLAS. checkSetup() gathers it and never
 * throws; selfTest() runs one small quantized layer on a GPU and compares
 * it with float64 on the CPU. `npx marlin-node doctor` (cli.ts) prints both.
 */
import { compiledVariants } from './chooser';
import { Device, DeviceTensor, probe } from './device';
import { callNative } from './errors';
import { DEFAULT_FORMAT, type WeightFormat } from './formats';
import { fromHalves, toHalves } from './fp16';
import { QuantizedLinear } from './linear';
import { addonFile, native } from './native';
import { dequantize, quantize } from './quantize';
import { referenceMatmul, relativeError } from './reference';

/** What checkSetup() found about one GPU. */
export interface GpuReport {
  /** CUDA device ordinal. */
  index: number;
  /** Device name, e.g. "NVIDIA H100 80GB HBM3". */
  name: string;
  /** Compute capability as 10 * major + minor (90 for 9.0). */
  arch: number;
  /** Streaming multiprocessors (SMs). */
  multiProcessorCount: number;
  /** Total device memory, in bytes. */
  memoryBytes: number;
  /** Whether marlin-node can run on it (probe()); `reason` says why not. */
  usable: boolean;
  /** Why it is not usable; absent when it is. */
  reason?: string;
  /** The compute capability of the build's code that runs on it (its own, or the PTX of an older one); 0: none. */
  kernelArch: number;
}

/** What checkSetup() found: the addon, the CUDA versions, the GPUs and cuBLAS. */
export interface SetupReport {
  /** The .node file in use. */
  addonFile: string;
  /** Compute capabilities compiled to machine code, and the one whose PTX is included (newer GPUs compile it). */
  archs: number[];
  /** The compute capability whose PTX is included. */
  ptxArch: number;
  /** Kernel variants compiled, all architectures and families. */
  variants: number;
  /** Of those, the wgmma family's (compiled for sm_90a; 0 in builds without sm_90). */
  wgmmaVariants: number;
  /** Of those, the decode family's (compiled for sm_90a; 0 in builds without sm_90). */
  decodeVariants: number;
  /** CUDA versions as 1000 * major + 10 * minor; driver 0: no driver. */
  runtimeVersion: number;
  /** The driver's CUDA version, encoded like runtimeVersion (0: no driver). */
  driverVersion: number;
  /** One report per device probe() found, in index order. */
  gpus: GpuReport[];
  /** Whether the FP16 baseline (fp16Matmul) has cuBLAS. */
  cublas: boolean;
  /** Why marlin-node cannot run on any GPU here (null when it can run on one). */
  problem: string | null;
}

/** "13.0" from 13000. */
export function cudaVersionString(version: number): string {
  return `${Math.floor(version / 1000)}.${Math.floor((version % 1000) / 10)}`;
}

/** Everything checkSetup() can find out without running a kernel. Never throws. */
export function checkSetup(): SetupReport {
  const found = probe();
  const build = callNative(() => native.build());
  const gpus = found.devices.map((d): GpuReport => {
    const arch = 10 * d.major + d.minor;
    const kernelArch = callNative(() => native.codeArch(arch));
    const gpu: GpuReport = {
      index: d.index,
      name: d.name,
      arch,
      multiProcessorCount: d.multiProcessorCount,
      memoryBytes: d.totalGlobalMem,
      usable: d.usable && kernelArch !== 0,
      kernelArch,
    };
    if (!d.usable) gpu.reason = d.reason;
    else if (kernelArch === 0) gpu.reason = `this build has no kernels for sm_${arch} (rebuild with MARLIN_CUDA_ARCHS=${arch})`;
    return gpu;
  });
  let problem: string | null = null;
  if (gpus.length === 0) problem = found.reason ?? 'no CUDA device is present';
  else if (!gpus.some((g) => g.usable)) problem = `no GPU is usable: ${gpus.map((g) => `GPU ${g.index}: ${g.reason}`).join('; ')}`;
  return {
    addonFile: addonFile() ?? '(not loaded)',
    archs: [...build.archs],
    ptxArch: build.ptxArch,
    variants: compiledVariants().length,
    wgmmaVariants: compiledVariants().filter((v) => v.family === 'wgmma').length,
    decodeVariants: compiledVariants().filter((v) => v.family === 'decode').length,
    runtimeVersion: found.runtimeVersion,
    driverVersion: found.driverVersion,
    gpus,
    cublas: callNative(() => native.hasCublas()),
    problem,
  };
}

/** The outcome of selfTest(): a small layer's GEMM against float64 on the CPU. */
export interface SelfTestResult {
  /** Index of the device that ran the test. */
  device: number;
  /** That device's name. */
  name: string;
  /** The weight format tested: DEFAULT_FORMAT if compiled for the GPU, else the first compiled. */
  format: WeightFormat;
  /** Rows of x. */
  m: number;
  /** Input features of the test layer (512). */
  inFeatures: number;
  /** Output features of the test layer (256). */
  outFeatures: number;
  /** ||y - y_float64|| / ||y_float64|| over the whole output. */
  relativeError: number;
  /** Largest relative error that passes: 2e-3 for float16, 1.6e-2 for bfloat16. */
  tolerance: number;
  /** Whether relativeError < tolerance. */
  passed: boolean;
  /** Wall time of the upload, GEMM and readback. */
  ms: number;
}

/** The format the self-test uses on code of `kernelArch`: the default one if compiled, else the first compiled. */
function selfTestFormat(kernelArch: number): WeightFormat {
  const variants = compiledVariants().filter((v) => v.arch === kernelArch);
  const fits = (f: WeightFormat) => variants.some((v) => v.dtype === f.dtype && v.bits === f.bits && v.groupSize === f.groupSize && v.zeroPoints === f.zeroPoints);
  if (variants.length === 0 || fits(DEFAULT_FORMAT)) return { ...DEFAULT_FORMAT };
  const v = variants[0];
  return { dtype: v.dtype, bits: v.bits as WeightFormat['bits'], groupSize: v.groupSize as WeightFormat['groupSize'], zeroPoints: v.zeroPoints };
}

/** Deterministic values in [-1, 1) (xorshift32): the self-test's inputs are the same on every run. */
function values(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) / 2147483648 - 1;
  }
  return out;
}

/**
 * Quantizes a small layer (512 input features, 256 output features) in a compiled format, runs a
 * batch of 16 through it on `device`, and compares every output with the
 * float64 product of the same (rounded) inputs and dequantized weights.
 * Throws what the GPU calls throw (NO_GPU, CUDA_ERROR, ...).
 */
export async function selfTest(device: number | Device = 0): Promise<SelfTestResult> {
  const d = device instanceof Device ? device : Device.get(device);
  const format = selfTestFormat(callNative(() => native.codeArch(10 * d.properties.major + d.properties.minor)));
  const m = 16;
  const k = 512;
  const n = 256;
  const quantized = quantize(values(k * n, 0x9e3779b9), k, n, format);
  const xBits = toHalves(values(m * k, 0x85ebca6b), format.dtype);
  const started = performance.now();
  using layer = QuantizedLinear.fromQuantized(quantized, { device: d });
  using x = DeviceTensor.from(d, xBits, [m, k], format.dtype);
  using y = layer.forward(x);
  const got = fromHalves(await y.toHost(), format.dtype);
  const ms = performance.now() - started;
  const expected = referenceMatmul(fromHalves(xBits, format.dtype), dequantize(quantized), m, k, n);
  const error = relativeError(got, expected);
  // Outputs are rounded once to the dtype (2^-11 or 2^-8 relative), sums kept in FP32.
  const tolerance = format.dtype === 'bfloat16' ? 1.6e-2 : 2e-3;
  return { device: d.index, name: d.name, format, m, inFeatures: k, outFeatures: n, relativeError: error, tolerance, passed: error < tolerance, ms };
}
