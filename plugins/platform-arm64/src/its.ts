import type { PciFunction } from '@vhw/pci';

/**
 * The GICv3 ITS's check of an MSI write. The ITS tags every write to GITS_TRANSLATER with
 * the DeviceID of the requester (its PCI requester ID, through the SMMU's stream ID) and
 * looks the event up in that device's own interrupt translation table, so a device can
 * only raise the LPIs mapped for it: an "isolated MSI" domain in Linux's terms
 * (IRQ_DOMAIN_FLAG_ISOLATED_MSI). A write naming another device's vector finds no entry
 * and is dropped; the MSI router counts it. No error state follows (no EEH on arm64).
 * The check is per device, not per isolation group: devices that share an SMMU group for
 * lack of ACS still have DeviceIDs of their own.
 * @param isolated Whether MSIs go through an ITS that tags devices (false: a doorbell that
 *   cannot tell senders apart, e.g. a GICv2m frame).
 * @param source The function whose MSI write arrived.
 * @param owner The function the host IRQ in the message belongs to (undefined: none).
 * @returns Whether the MSI passes.
 */
export function itsAcceptsMsi(isolated: boolean, source: PciFunction, owner: PciFunction | undefined): boolean {
  return !isolated || owner === source;
}
