import { describe, expect, it } from 'vitest';
import { Bulkhead, ErrorCode, ShoalError } from '../../src/resilience/index.js';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

describe('bulkhead', () => {
  it('runs up to maxConcurrent, queues up to maxQueued, rejects beyond', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 2, maxQueued: 1, name: 'goods' });
    const gates = [gate(), gate(), gate()];
    const started: number[] = [];
    const calls = gates.map((g, i) =>
      bulkhead.execute(async () => {
        started.push(i);
        await g.opened;
        return i;
      }),
    );
    expect(bulkhead.active).toBe(2);
    expect(bulkhead.queued).toBe(1);
    expect(started).toEqual([0, 1]);

    const err = await bulkhead.execute(async () => 'never').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShoalError);
    expect(err).toMatchObject({ code: ErrorCode.BULKHEAD_REJECTED, retryable: false });

    // A finished call lets the queued one in.
    gates[0]!.open();
    await expect(calls[0]).resolves.toBe(0);
    await expect.poll(() => started).toEqual([0, 1, 2]);
    gates[1]!.open();
    gates[2]!.open();
    await expect(Promise.all(calls)).resolves.toEqual([0, 1, 2]);
    expect(bulkhead.active).toBe(0);
    expect(bulkhead.queued).toBe(0);
  });

  it('frees its slot when the call fails', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1 });
    await expect(bulkhead.execute(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(bulkhead.execute(async () => 'next')).resolves.toBe('next');
  });

  it('refuses nonsense limits', () => {
    expect(() => new Bulkhead({ maxConcurrent: 0 })).toThrow(RangeError);
    expect(() => new Bulkhead({ maxConcurrent: 1, maxQueued: -1 })).toThrow(RangeError);
  });
});
