import { type Mmu, type TrapHandler, hex } from '@vhw/core';

/**
 * The guest pages marked to trap in the MMU for the VMM's trap regions. Several BARs can
 * trap in one guest page (small BARs packed together), so each page is counted: it is
 * marked by its first user, with that user's reason, and unmarked when its last user goes.
 */
export class TrapPages {
  private readonly users = new Map<number, number>();
  private resolver: (page: number) => TrapHandler | undefined = () => undefined;

  /**
   * @param mmu the guest MMU the pages are marked in.
   * @param pageSize its page size.
   */
  constructor(
    private readonly mmu: Mmu,
    private readonly pageSize: number,
  ) {}

  /**
   * Adds a user to every guest page of `[gpa, gpa + size)` not yet in `held`, and appends
   * those pages to `held`.
   * @param reason the reason the page's traps are counted under when this user marks it.
   * @param owner the device, for the MMU's listing.
   */
  acquire(gpa: number, size: number, reason: string, owner: string, held: number[]): void {
    const P = this.pageSize;
    for (let page = Math.floor(gpa / P) * P; page < gpa + size; page += P) {
      if (held.includes(page)) continue;
      const users = this.users.get(page) ?? 0;
      if (users === 0) this.mmu.mapTrap(`trap@${hex(page)}`, page, P, reason, owner);
      this.users.set(page, users + 1);
      held.push(page);
      this.resolve(page);
    }
  }

  /**
   * Sets what resolves a marked page's trap handler ahead of time (undefined: the page
   * exits to the VMM's dispatch), and resolves every marked page with it.
   */
  resolveWith(resolver: (page: number) => TrapHandler | undefined): void {
    this.resolver = resolver;
    this.resolveAll();
  }

  /** Resolves every marked page again (after the regions behind them changed). */
  resolveAll(): void {
    for (const page of this.users.keys()) this.resolve(page);
  }

  private resolve(page: number): void {
    this.mmu.resolveTrap(`trap@${hex(page)}`, this.resolver(page));
  }

  /** Removes one user from each page of `held` (unmarking pages nobody uses any more). */
  release(held: readonly number[]): void {
    for (const page of held) {
      const users = (this.users.get(page) ?? 1) - 1;
      if (users === 0) {
        this.mmu.unmap(`trap@${hex(page)}`);
        this.users.delete(page);
      } else {
        this.users.set(page, users);
        this.resolve(page);
      }
    }
  }
}
