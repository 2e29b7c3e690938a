/**
 * The EEH interface of a pSeries guest: the RTAS calls through which the guest's EEH core
 * reads a PE's state and recovers it, and the one hook it asks of drivers afterwards.
 */

/**
 * What a guest's EEH core can do for one function: the RTAS slot-state and reset calls,
 * which the VMM forwards to the host PE.
 *
 * @example
 * ```ts
 * if (fn.eeh?.frozen()) fn.eeh.recover();
 * ```
 */
export interface GuestEeh {
  /** The PE the function belongs to: functions of one PE are frozen and reset together. */
  readonly pe: string;
  /** True while the function's PE is frozen (ibm,read-slot-reset-state2). */
  frozen(): boolean;
  /** Reset the PE, unfreeze it and restore its configuration (ibm,set-slot-reset + ibm,configure-pe). */
  recover(): void;
}

/**
 * A driver as the guest's EEH core sees it: Linux's `struct pci_error_handlers`, reduced to
 * the one hook vhw's drivers need after their PE was reset (its `slot_reset` and `resume`).
 * Every `GuestDriver` is one.
 */
export interface EehErrorHandler {
  /** The device instance the driver drives. */
  readonly device: string;
  /** The device was reset under the driver (EEH recovery): re-initialise it and resubmit what was lost. */
  recover?(): void;
}
