import { MachineEvents, Mmu, Stats } from '@vhw/core';
import { describe, expect, it } from 'vitest';
import { TrapPages } from './trap-pages.js';

const K = 1024;
const P = 64 * K;

describe('TrapPages', () => {
  it('marks a page for its first user and unmarks it after its last', () => {
    const mmu = new Mmu(P, new Stats(), new MachineEvents());
    const pages = new TrapPages(mmu, P);
    const a: number[] = [];
    const b: number[] = [];
    pages.acquire(0x10_0000 + 0x1000, 0x4000, 'guest-page-shared', 'a', a);
    pages.acquire(0x10_0000 + 0x8000, 0x4000, 'guest-page-shared', 'b', b);
    expect([a, b]).toEqual([[0x10_0000], [0x10_0000]]);
    expect(mmu.translate(0x10_0000).path).toBe('trap');
    pages.release(a);
    expect(mmu.translate(0x10_0000).path).toBe('trap');
    pages.release(b);
    expect(mmu.translate(0x10_0000).mapping).toBeUndefined();
  });

  it('counts a page once per user, however many of its pieces lie in it', () => {
    const mmu = new Mmu(P, new Stats(), new MachineEvents());
    const pages = new TrapPages(mmu, P);
    const held: number[] = [];
    pages.acquire(0x20_0000, 0x100, 'msix-table', 'a', held);
    pages.acquire(0x20_0100, P + 0x100, 'msix-emulation', 'a', held);
    expect(held).toEqual([0x20_0000, 0x20_0000 + P]);
    pages.release(held);
    expect(mmu.translate(0x20_0000).mapping).toBeUndefined();
    expect(mmu.translate(0x20_0000 + P).mapping).toBeUndefined();
  });
});
