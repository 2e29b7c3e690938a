import { VhwError, type VhwErrorCode } from '@vhw/core';
import { assert, expect } from 'vitest';

/**
 * Calls `fn` and asserts that it throws a {@link VhwError} with `code` (checked with
 * `VhwError.is`, so a copy of the class from another package instance counts too), and,
 * when `messagePattern` is given, that its message contains that string or matches that
 * regular expression. A missing throw, another error type or another code fails the test.
 *
 * @param fn - the call that must fail
 * @param code - the error code it must fail with
 * @param messagePattern - a substring of, or a pattern for, the expected message
 * @returns the thrown error, for further checks on its message or cause
 * @example
 * const err = expectVhwError(() => mmu.unmap('x'), 'E_NOT_FOUND', 'mapped: ram');
 * expect(err.cause).toBeUndefined();
 */
export function expectVhwError(fn: () => unknown, code: VhwErrorCode, messagePattern?: string | RegExp): VhwError {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
    if (!VhwError.is(error, code)) assert.fail(`expected a VhwError ${code}, but got ${whatWasThrown(error)}`);
  }
  if (!VhwError.is(error)) assert.fail(`expected a VhwError ${code}, but nothing was thrown`);
  if (typeof messagePattern === 'string') expect(error.message).toContain(messagePattern);
  else if (messagePattern !== undefined) expect(error.message).toMatch(messagePattern);
  return error;
}

/** Names what was thrown instead, so a failing test says what went wrong. */
function whatWasThrown(x: unknown): string {
  if (VhwError.is(x)) return `a VhwError ${x.code}: ${x.message}`;
  if (x instanceof Error) return `${x.name}: ${x.message}`;
  return String(x);
}
