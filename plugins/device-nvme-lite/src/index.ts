/**
 * @vhw/device-nvme-lite: an NVMe-like PCI controller, its guest driver and the plugin
 * that contributes both. See README.md for the register map and the layouts.
 */
export { nvmeLite } from './plugin.js';
export { NvmeLiteDevice, nvmeLiteSpec, type NvmeLiteDeviceCounters } from './device.js';
export {
  NvmeLiteDriver,
  NVME_DRIVER_DEFAULTS,
  nvmeLiteWriteData,
  type NvmeLiteDriverCounters,
  type NvmeLiteDriverTuning,
  type NvmeLiteRecovery,
} from './driver.js';
export {
  NVME_LAYOUTS,
  NVME_LITE_PLUGIN,
  NVME_MAX_IO_QUEUES,
  NVME_MAX_QUEUE_ENTRIES,
  nvmeLiteSchema,
  resolveNvmeLiteOptions,
  type NvmeLayout,
  type NvmeLiteInput,
  type NvmeLiteOptions,
} from './options.js';
export {
  AdminOpcode,
  CC_EN,
  CC_ENABLE_VALUE,
  CQE_SIZE,
  CSTS_CFS,
  CSTS_RDY,
  IoOpcode,
  NVME_NAMESPACE_BLOCKS,
  NvmeReg,
  NvmeStatus,
  SQE_SIZE,
  cqHeadDoorbell,
  nvmeLbaPattern,
  nvmeRegisterNames,
  sqTailDoorbell,
} from './regs.js';
