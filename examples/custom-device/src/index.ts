/** vhw-example-custom-device: how a third party writes a vhw device plugin (see README.md). */
export { rngLite } from './plugin.js';
export {
  Ctrl,
  RNG_ID,
  RNG_REGISTER_NAMES,
  RngLiteDevice,
  RngReg,
  Status,
  resolveRngLiteOptions,
  rngLiteSchema,
  xorshift32,
  type RngLiteInput,
  type RngLiteOptions,
} from './device.js';
export { RngLiteDriver } from './driver.js';
