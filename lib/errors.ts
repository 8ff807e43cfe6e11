/**
 * MarlinError: every failure the package reports, with a stable `code`.
 * Native errors arrive as plain Errors carrying a `code`; they are re-thrown
 * as MarlinError on the caller's stack.
 */

export type MarlinErrorCode =
  | 'NOT_BUILT' // the native addon (built or prebuilt) is missing or cannot be loaded
  | 'NO_GPU' // no usable CUDA device (or no driver)
  | 'NO_CUBLAS' // the FP16 baseline was built without cuBLAS
  | 'BAD_SHAPE' // a dimension outside what the kernel supports
  | 'BAD_DTYPE' // a tensor of the wrong element type
  | 'BAD_ARGUMENT' // any other invalid argument (type, range, device mismatch)
  | 'DISPOSED' // use of a tensor, stream, event, graph or layer after dispose()
  | 'OUT_OF_MEMORY' // a device or pinned allocation failed
  | 'CUDA_ERROR' // the CUDA runtime reported an error
  | 'BAD_CHECKPOINT' // a checkpoint file, index or quantization config that is malformed or unsupported
  | 'WORKER_FAILED' // a worker thread (quantizeAsync and the like) failed or exited early
  | 'NOT_CAPTURABLE'; // an operation a CUDA graph capture cannot record (allocation, host copies, waiting), made during one

const CODES: ReadonlySet<string> = new Set<MarlinErrorCode>([
  'NOT_BUILT',
  'NO_GPU',
  'NO_CUBLAS',
  'BAD_SHAPE',
  'BAD_DTYPE',
  'BAD_ARGUMENT',
  'DISPOSED',
  'OUT_OF_MEMORY',
  'CUDA_ERROR',
  'BAD_CHECKPOINT',
  'WORKER_FAILED',
  'NOT_CAPTURABLE',
]);

/** Every failure marlin-node reports: an Error with a stable `code` (see MarlinErrorCode). */
export class MarlinError extends Error {
  /** What failed: one of the MarlinErrorCode values, stable across versions. */
  readonly code: MarlinErrorCode;
  /** The CUDA runtime's error number, when the CUDA runtime failed. */
  readonly cudaError?: number;

  /** An error of `code` with `message`; `options.cause` and `options.cudaError` are kept when given. */
  constructor(code: MarlinErrorCode, message: string, options?: { cause?: unknown; cudaError?: number }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'MarlinError';
    this.code = code;
    if (options?.cudaError !== undefined) this.cudaError = options.cudaError;
  }
}

/** Converts anything thrown by the native addon into a MarlinError. */
export function toMarlinError(error: unknown): MarlinError {
  if (error instanceof MarlinError) return error;
  const e = error as { code?: unknown; message?: unknown; cudaError?: unknown } | undefined;
  const code = typeof e?.code === 'string' && CODES.has(e.code) ? (e.code as MarlinErrorCode) : 'CUDA_ERROR';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const cudaError = typeof e?.cudaError === 'number' ? e.cudaError : undefined;
  return new MarlinError(code, message, { cause: error, cudaError });
}

/** Runs a native call; a native error is re-thrown as MarlinError here, on the caller's stack. */
export function callNative<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw toMarlinError(error);
  }
}

/**
 * Awaits a native Promise; a rejection becomes a MarlinError whose stack is
 * the one captured when the operation was started (the caller's line).
 */
export async function awaitNative<T>(start: () => Promise<T>): Promise<T> {
  const site = new Error();
  let promise: Promise<T>;
  try {
    promise = start();
  } catch (error) {
    throw toMarlinError(error);
  }
  try {
    return await promise;
  } catch (error) {
    const wrapped = toMarlinError(error);
    if (site.stack) wrapped.stack = `${wrapped.name}: ${wrapped.message}\n${site.stack.split('\n').slice(1).join('\n')}`;
    throw wrapped;
  }
}
