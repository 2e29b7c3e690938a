/**
 * @vhw/device-nic-lite: a NIC-like SR-IOV VF shaped like the Intel 82576 VF (igbvf),
 * its guest driver and the plugin that contributes both. See README.md for the
 * register map and the layout.
 */
export { nicLite } from './plugin.js';
export { NicLiteDevice, nicLiteSpec, type NicLiteDeviceCounters } from './device.js';
export { NicLiteDriver, NIC_DRIVER_DEFAULTS, type NicLiteDriverCounters, type NicLiteDriverTuning } from './driver.js';
export {
  NIC_LITE_PLUGIN,
  NIC_MAX_PACKET_BYTES,
  nicLiteSchema,
  resolveNicLiteOptions,
  type NicLiteInput,
  type NicLiteOptions,
} from './options.js';
export {
  CTRL_RST,
  Cause,
  DESC_SIZE,
  DescStatus,
  NIC_REGISTER_NAMES,
  NicReg,
  QUEUE_ENABLE,
  RX_BUFFER_BYTES,
  STATUS_FD,
  STATUS_LU,
  TxCmd,
  nicLitePayloadWord,
} from './regs.js';
