import { VhwError } from '@vhw/core';
import { describe, expect, it } from 'vitest';
import { expectVhwError } from './expect-vhw-error.js';

const fails = (message: string) => () => {
  throw new VhwError('E_RANGE', message);
};

describe('expectVhwError', () => {
  it('returns the VhwError thrown with the expected code', () => {
    const err = expectVhwError(fails('offset 0x10 is outside region 0'), 'E_RANGE');
    expect(err).toBeInstanceOf(VhwError);
    expect(err.message).toBe('offset 0x10 is outside region 0');
  });

  it('checks the message: a string must be contained, a RegExp must match', () => {
    expectVhwError(fails('offset 0x10 is outside region 0'), 'E_RANGE', 'outside region');
    expectVhwError(fails('offset 0x10 is outside region 0'), 'E_RANGE', /^offset 0x10 /);
    expect(() => expectVhwError(fails('offset 0x10'), 'E_RANGE', 'region')).toThrow(/expected 'offset 0x10' to contain 'region'/);
    expect(() => expectVhwError(fails('offset 0x10'), 'E_RANGE', /^region/)).toThrow(/to match/);
  });

  it('fails when nothing is thrown', () => {
    expect(() => expectVhwError(() => 1, 'E_RANGE')).toThrow('expected a VhwError E_RANGE, but nothing was thrown');
  });

  it('fails on another code, naming the code and message that came instead', () => {
    expect(() => expectVhwError(fails('too far'), 'E_CONFIG')).toThrow('expected a VhwError E_CONFIG, but got a VhwError E_RANGE: too far');
  });

  it('fails on an error that is not a VhwError', () => {
    const plain = () => {
      throw new TypeError('x is not a function');
    };
    expect(() => expectVhwError(plain, 'E_CONFIG')).toThrow('expected a VhwError E_CONFIG, but got TypeError: x is not a function');
    expect(() =>
      expectVhwError(() => {
        throw undefined;
      }, 'E_CONFIG'),
    ).toThrow('expected a VhwError E_CONFIG, but got undefined');
  });
});
