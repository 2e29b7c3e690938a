/** The stable codes a `VhwError` carries, one per kind of failure. */
export type VhwErrorCode =
  | 'E_CONFIG' // invalid option, scenario or plugin composition
  | 'E_OVERLAP' // two regions or mappings claim the same addresses
  | 'E_RANGE' // an address or size outside what is allowed
  | 'E_UNASSIGNED' // an access no region decodes (only with the `fault` policy)
  | 'E_ALIGNMENT' // a mapping that is not page aligned where it must be
  | 'E_ALLOCATION' // BAR or window allocation failed
  | 'E_ISOLATION' // a direct mapping would expose another device's page
  | 'E_MMAP_DENIED' // vfio refused an mmap
  | 'E_STATE' // an operation in the wrong lifecycle state
  | 'E_NOT_FOUND'; // a named thing does not exist

const VHW_ERROR = Symbol.for('@vhw/core/VhwError');

/**
 * The one error type of vhw. Every layer throws `VhwError` with a stable `code`;
 * the guard `VhwError.is()` is keyed by a global symbol so it still works when two
 * copies of this package end up in one process.
 */
export class VhwError extends Error {
  readonly code: VhwErrorCode;
  readonly [VHW_ERROR] = true;

  constructor(code: VhwErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VhwError';
    this.code = code;
  }

  /** True when `x` is a VhwError (from any copy of this package), optionally with `code`. */
  static is(x: unknown, code?: VhwErrorCode): x is VhwError {
    return (
      typeof x === 'object' &&
      x !== null &&
      (x as Record<symbol, unknown>)[VHW_ERROR] === true &&
      (code === undefined || (x as VhwError).code === code)
    );
  }
}

/** Formats a number as a hexadecimal address for messages. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
