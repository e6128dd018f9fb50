import { describe, expect, it } from 'vitest';
import { ErrorCode, ShoalError, isShoalError, toShoalError } from '../../src/errors/index.js';

describe('ShoalError', () => {
  it('carries code, retryable, instance and details, and round-trips through JSON', () => {
    const e = new ShoalError({ code: 'OUT_OF_STOCK', message: 'no more', retryable: false, instance: 'goods-1', details: { sku: 'a' } });
    expect(e).toBeInstanceOf(Error);
    expect(isShoalError(e)).toBe(true);
    const back = ShoalError.fromJSON(JSON.parse(JSON.stringify(e)));
    expect(back.toJSON()).toEqual({ code: 'OUT_OF_STOCK', message: 'no more', retryable: false, instance: 'goods-1', details: { sku: 'a' } });
    expect(e.withInstance('goods-2').instance).toBe('goods-2');
  });

  it('refuses malformed wire errors and empty codes', () => {
    expect(() => ShoalError.fromJSON({ code: 'X', message: 'm' })).toThrow(TypeError);
    expect(() => ShoalError.fromJSON('nope')).toThrow(TypeError);
    expect(() => new ShoalError({ code: '', message: 'm', retryable: true })).toThrow(TypeError);
  });

  it('wraps foreign errors as INTERNAL, not retryable, and leaves ShoalErrors alone', () => {
    const wrapped = toShoalError(new Error('boom'), 'users-3');
    expect(wrapped.code).toBe(ErrorCode.INTERNAL);
    expect(wrapped.retryable).toBe(false);
    expect(wrapped.instance).toBe('users-3');
    const own = new ShoalError({ code: 'X', message: 'm', retryable: true });
    expect(toShoalError(own)).toBe(own);
  });
});
