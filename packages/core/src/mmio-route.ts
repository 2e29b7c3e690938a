import type { MmioHandler } from './access.js';

/**
 * Listeners told that some state changed (a PE froze, a BAR stopped decoding). Kept off the
 * hot path: state changes are rare, and they are what re-points the routes below, so that
 * no access has to test the state itself.
 */
export class StateWatchers {
  private list: Array<() => void> = [];

  /** Adds `onChange`; returns the function that removes it again. */
  add(onChange: () => void): () => void {
    this.list.push(onChange);
    return () => {
      this.list = this.list.filter((f) => f !== onChange);
    };
  }

  /** Calls every listener (those added meanwhile wait for the next change). */
  notify(): void {
    for (const f of [...this.list]) f();
  }

  /** How many listeners there are (for tests of their clean-up). */
  get size(): number {
    return this.list.length;
  }
}

/** A flag whose changes are told to its watchers (a PE's MMIO freeze, a BAR's decode bit). */
export class WatchedFlag extends StateWatchers {
  private value: boolean;

  constructor(initial: boolean) {
    super();
    this.value = initial;
  }

  /** The flag's value. */
  get on(): boolean {
    return this.value;
  }

  /** Sets the flag; the watchers are told if it changed. */
  set(on: boolean): void {
    if (on === this.value) return;
    this.value = on;
    this.notify();
  }
}

/**
 * Host MMIO a direct mapping reaches, whose plain accesses may skip this handler: `route` is
 * what such an access reaches in the current state of the hardware behind it (the device's
 * register handler while its BAR decodes and its PE is not frozen; a handler answering as
 * the blocked BAR does otherwise). When the state changes the target re-points `route` and
 * tells its watchers, as the host rebuilds its flat view when a region is disabled; the MMU
 * then calls `route` straight away and no access tests the state.
 *
 * A plain access is aligned, of a size in `routeSizes`, and ends at or below `routeEnd`
 * (offsets as this handler's). Every other access goes through this handler.
 */
export interface RoutedMmioHandler extends MmioHandler {
  readonly route: MmioHandler;
  /** Mask of the sizes (1, 2, 4) `route` takes as they are. */
  readonly routeSizes: number;
  /** End of the offsets `route` serves (the end of the BAR behind it). */
  readonly routeEnd: number;
  /** Calls `onChange` after every change of `route`; returns the function that stops it. */
  watchRoute(onChange: () => void): () => void;
}

/** Whether `h` offers a route (see {@link RoutedMmioHandler}). */
export function isRoutedMmio(h: MmioHandler): h is RoutedMmioHandler {
  return typeof (h as Partial<RoutedMmioHandler>).watchRoute === 'function';
}
