/** How the bench fails: always one line, never a stack for an expected failure. */

/** A bad command line: reported as one line, exit code 2, before the GPU is touched. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An expected failure (no GPU, no cuBLAS, a wrong result): its message is the line printed. */
export class BenchFailure extends Error {
  override readonly name = 'BenchFailure';
}

interface CodedError {
  name: string;
  code: string;
  message: string;
}

function isMarlinError(error: unknown): error is CodedError {
  return error instanceof Error && error.name === 'MarlinError' && typeof (error as { code?: unknown }).code === 'string';
}

/**
 * The line to print after "bench: ". lib/ is loaded lazily, so MarlinError is
 * recognised by name and code rather than by class.
 */
export function describeError(error: unknown): string {
  if (error instanceof BenchFailure) return error.message;
  if (isMarlinError(error)) {
    const lines = error.message.split('\n');
    // NOT_BUILT carries several lines of build help: the first says what is wrong.
    if (error.code === 'NOT_BUILT') return `NOT_BUILT: ${lines[0]} Build it with: npm run build`;
    return `${error.code}: ${lines.join(' ')}`;
  }
  // System errors (e.g. writing --json) say enough; anything else is a bug: keep its stack.
  if (error instanceof Error) return typeof (error as { code?: unknown }).code === 'string' ? error.message : (error.stack ?? error.message);
  return String(error);
}
