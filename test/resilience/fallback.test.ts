import { describe, expect, it } from 'vitest';
import { ErrorCode, Fallback, ShoalError } from '../../src/resilience/index.js';

const err = (code: string) => new ShoalError({ code, message: code, retryable: false });

describe('fallback', () => {
  it('answers with a value for the listed codes and lets other errors through', async () => {
    const fb = new Fallback<string[]>({ on: [ErrorCode.UNAVAILABLE, ErrorCode.CIRCUIT_OPEN], value: [] });
    await expect(fb.execute(async () => Promise.reject(err(ErrorCode.CIRCUIT_OPEN)))).resolves.toEqual([]);
    await expect(fb.execute(async () => ['live']))
      .resolves.toEqual(['live']);
    await expect(fb.execute(async () => Promise.reject(err('INVALID_ARGUMENT')))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('computes the fallback from the error when given a function and a predicate', async () => {
    const fb = new Fallback<string>({
      on: (e) => e instanceof Error && e.message.startsWith('timeout'),
      compute: (e) => `stale (${(e as Error).message})`,
    });
    await expect(fb.execute(async () => Promise.reject(new Error('timeout after 50ms')))).resolves.toBe('stale (timeout after 50ms)');
    await expect(fb.execute(async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
  });
});
