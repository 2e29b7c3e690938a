// Worker-thread entry for `vhw sweep --jobs N`: loader hooks are per thread, so register
// TypeScript loading here before importing the task module.
import '../../bin/register.mjs';

const mod = await import('./worker.ts');
export default mod.default;
