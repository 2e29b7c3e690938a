import { expectVhwError } from '@vhw/test-support';
import { describe, expect, it } from 'vitest';
import { vmm } from './index.js';

describe('vmm options', () => {
  it('a bad noMsixEmulation says what is allowed', () => {
    const e = expectVhwError(() => vmm({ noMsixEmulation: 'yes' as never }), 'E_CONFIG', /"machine"/);
    expect(e.message).toMatch(/boolean|true|false/);
  });
});
