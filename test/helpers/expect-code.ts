/** Assertions on the MarlinErrors a call throws. */
import { inspect } from 'node:util';

import { MarlinError } from '../../lib/errors';

/** Fails unless fn throws a MarlinError with `code` synchronously (so a test fails when nothing throws); returns it. */
export function expectCode(fn: () => unknown, code: string): MarlinError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  if (!(caught instanceof MarlinError)) throw new Error(`expected a MarlinError ${code}, got ${caught === undefined ? 'no error' : inspect(caught)}`);
  expect(caught.code).toBe(code);
  return caught;
}
