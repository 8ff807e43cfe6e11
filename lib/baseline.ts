/**
 * The FP16 baseline: cuBLAS with the same tensor types as the Marlin call
 * (FP16 in and out, FP32 accumulation, tensor cores), for comparisons.
 */
import { DeviceTensor, type Stream } from './device';
import { MarlinError, callNative } from './errors';
import { native } from './native';
import { invalid } from './validate';

/** Whether the addon was built with cuBLAS (else fp16Matmul throws NO_CUBLAS). */
export function hasCublas(): boolean {
  return callNative(() => native.hasCublas());
}

/** C = A B with cuBLAS: A [m, k] and B [k, n] float16, row-major; returns C [m, n]. */
export function fp16Matmul(
  a: DeviceTensor<'float16'>,
  b: DeviceTensor<'float16'>,
  options: { out?: DeviceTensor<'float16'>; stream?: Stream } = {},
): DeviceTensor<'float16'> {
  if (!hasCublas()) throw new MarlinError('NO_CUBLAS', 'the FP16 baseline is unavailable: marlin-node was built without cuBLAS');
  for (const [name, t] of [['a', a], ['b', b]] as const) {
    if (!(t instanceof DeviceTensor)) throw invalid('BAD_ARGUMENT', name, 'a DeviceTensor', t);
    if (t.dtype !== 'float16') throw invalid('BAD_DTYPE', name, 'a float16 tensor', t.describe());
    if (t.shape.length !== 2) throw invalid('BAD_SHAPE', name, 'a 2-D tensor', t.describe());
  }
  const [m, k] = a.shape;
  const [kb, n] = b.shape;
  if (kb !== k) throw invalid('BAD_SHAPE', 'b', `a [${k}, n] tensor (a is [${m}, ${k}])`, b.describe());
  if (b.device.index !== a.device.index) throw new MarlinError('BAD_ARGUMENT', 'a and b are on different devices');
  const out = options.out ?? DeviceTensor.empty(a.device, [m, n], 'float16');
  if (out.dtype !== 'float16' || out.shape.length !== 2 || out.shape[0] !== m || out.shape[1] !== n)
    throw invalid('BAD_SHAPE', 'out', `a float16 [${m}, ${n}] tensor`, out.describe());
  const stream = options.stream ?? a.device.stream;
  if (m === 0 || n === 0) return out;
  callNative(() => native.fp16Gemm(a.buffer, 0, b.buffer, 0, out.buffer, 0, stream.native, m, n, k));
  return out;
}
