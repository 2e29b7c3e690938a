import { VhwError } from '@vhw/core';
import type { VmmPolicy } from './policy.js';
import { cloudHypervisorPolicy } from './cloud-hypervisor-policy.js';
import { crosvmPolicy } from './crosvm-policy.js';
import { firecrackerPolicy } from './firecracker-policy.js';
import { kvmtoolPolicy } from './kvmtool-policy.js';
import { qemuPolicy } from './qemu-policy.js';

/** The policies `--vmm` can name: the built-in five (in `VMM_IDS` order) and any an outside author registered. */
const registry = new Map<string, VmmPolicy>(
  [qemuPolicy, cloudHypervisorPolicy, crosvmPolicy, kvmtoolPolicy, firecrackerPolicy].map((p) => [p.id, p]),
);

/**
 * Adds a VMM policy (an outside author's, e.g. from a scenario file) under its `id`; it can
 * then be chosen like a built-in one (`vmm({ policy: id })`). Register it in the module that
 * builds the machine, so worker threads of a sweep register it too.
 * @throws VhwError E_CONFIG when the id is taken
 */
export function registerVmmPolicy(policy: VmmPolicy): void {
  if (registry.has(policy.id)) throw new VhwError('E_CONFIG', `vmm policy "${policy.id}" is already registered`);
  registry.set(policy.id, policy);
}

/** The ids of every known policy, built-in first. */
export function vmmPolicyIds(): string[] {
  return [...registry.keys()];
}

/**
 * The policy of `id`.
 * @throws VhwError E_CONFIG naming the known ids when there is none
 */
export function vmmPolicy(id: string): VmmPolicy {
  const p = registry.get(id);
  if (!p) throw new VhwError('E_CONFIG', `vmm "${id}"; allowed: ${vmmPolicyIds().join(', ')}`);
  return p;
}
