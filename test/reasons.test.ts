import { readFileSync } from 'node:fs';
import { Reason } from '@vhw/vfio-pci';
import { VmmReason } from '@vhw/vmm';
import { describe, expect, it } from 'vitest';

describe('the documented reason set', () => {
  it('is exactly what the kernel, the VMM and core (unmapped) can report', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const at = readme.indexOf('Reasons form a fixed set:');
    expect(at).toBeGreaterThan(0);
    const paragraph = readme.slice(at, readme.indexOf('\n\n', at));
    const documented = [...paragraph.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]).sort();
    const produced = [...Object.values(Reason), ...Object.values(VmmReason), 'unmapped'].sort();
    expect(documented).toEqual(produced);
  });

  it('each layer owns distinct words', () => {
    const kernel = new Set<string>(Object.values(Reason));
    for (const r of Object.values(VmmReason)) expect(kernel.has(r)).toBe(false);
  });
});
