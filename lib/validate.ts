/**
 * Argument checks, in the manner of sharp's lib/is: tiny predicates and one
 * message builder, "Expected X for NAME but received Y".
 */
import { MarlinError, type MarlinErrorCode } from './errors';

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
export const isInteger = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
export const isPositiveInteger = (v: unknown): v is number => isInteger(v) && v > 0;
export const isNonNegativeInteger = (v: unknown): v is number => isInteger(v) && v >= 0;

/** A short, readable rendering of what was received. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of length ${(value as unknown as ArrayLike<unknown>).length ?? value.byteLength}`;
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (typeof value === 'function') return 'function';
  const name = value.constructor?.name;
  return name && name !== 'Object' ? name : 'object';
}

export function invalid(code: MarlinErrorCode, name: string, expected: string, received: unknown): MarlinError {
  return new MarlinError(code, `Expected ${expected} for ${name} but received ${describe(received)}`);
}

/**
 * Throws BAD_ARGUMENT, naming the new names, if `value` (called `name`)
 * gives a layer's dimensions as `k` and `n`, the names of 0.1.0, instead of
 * `inFeatures` and `outFeatures`: a plain undefined would be a riddle.
 */
export function checkDimensionNames(value: Record<string, unknown>, name: string): void {
  if (('k' in value || 'n' in value) && !('inFeatures' in value) && !('outFeatures' in value))
    throw new MarlinError('BAD_ARGUMENT', `${name}.k and ${name}.n are now called ${name}.inFeatures and ${name}.outFeatures`);
}

/** Throws BAD_ARGUMENT unless `value` passes `check`. */
export function expect<T>(value: unknown, check: (v: unknown) => v is T, name: string, expected: string): T {
  if (!check(value)) throw invalid('BAD_ARGUMENT', name, expected, value);
  return value;
}
