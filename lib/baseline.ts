/**
 * The dense baseline: cuBLAS with the same tensor types as the quantized call
 * (FP16 or BF16 in and out, FP32 accumulation, tensor cores), for comparisons.
 */
import { DeviceTensor, type Stream } from './device';
import { MarlinError, callNative } from './errors';
import type { ActivationDType } from './formats';
import { native } from './native';
import { invalid } from './validate';

/** Whether the addon was built with cuBLAS (else fp16Matmul throws NO_CUBLAS). */
export function hasCublas(): boolean {
  return callNative(() => native.hasCublas());
}

/**
 * C = A B with cuBLAS: A [m, k] and B [k, n] row-major, both float16 or both
 * bfloat16; returns C [m, n] of the same type.
 */
export function fp16Matmul<D extends ActivationDType>(
  a: DeviceTensor<D>,
  b: DeviceTensor<D>,
  options: { out?: DeviceTensor<D>; stream?: Stream } = {},
): DeviceTensor<D> {
  if (!hasCublas()) throw new MarlinError('NO_CUBLAS', 'the dense baseline is unavailable: marlin-node was built without cuBLAS');
  if (!(a instanceof DeviceTensor)) throw invalid('BAD_ARGUMENT', 'a', 'a DeviceTensor', a);
  const dtype = a.dtype;
  if (dtype !== 'float16' && dtype !== 'bfloat16') throw invalid('BAD_DTYPE', 'a', 'a float16 or bfloat16 tensor', a.describe());
  for (const [name, t] of [['a', a], ['b', b]] as const) {
    if (!(t instanceof DeviceTensor)) throw invalid('BAD_ARGUMENT', name, 'a DeviceTensor', t);
    if (t.dtype !== dtype) throw invalid('BAD_DTYPE', name, `a ${dtype} tensor`, t.describe());
    if (t.shape.length !== 2) throw invalid('BAD_SHAPE', name, 'a 2-D tensor', t.describe());
  }
  const [m, k] = a.shape;
  const [kb, n] = b.shape;
  if (kb !== k) throw invalid('BAD_SHAPE', 'b', `a [${k}, n] tensor (a is [${m}, ${k}])`, b.describe());
  if (b.device.index !== a.device.index) throw new MarlinError('BAD_ARGUMENT', 'a and b are on different devices');
  const out = options.out ?? DeviceTensor.empty(a.device, [m, n], dtype);
  if (out.dtype !== dtype || out.shape.length !== 2 || out.shape[0] !== m || out.shape[1] !== n)
    throw invalid('BAD_SHAPE', 'out', `a ${dtype} [${m}, ${n}] tensor`, out.describe());
  const stream = options.stream ?? a.device.stream;
  if (m === 0 || n === 0) return out;
  callNative(() => native.fp16Gemm(a.buffer, 0, b.buffer, 0, out.buffer, 0, stream.native, m, n, k, dtype));
  return out;
}
