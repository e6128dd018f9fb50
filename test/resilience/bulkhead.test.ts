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

  it('a queued call whose signal aborts never runs; its turn passes to the next one', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueued: 2 });
    const g = gate();
    const first = bulkhead.execute(() => g.opened);
    const controller = new AbortController();
    let ran = false;
    const cancelled = bulkhead.execute(async () => { ran = true; }, controller.signal);
    const third = bulkhead.execute(async () => 'third');
    controller.abort();
    g.open();
    await first;
    await expect(cancelled).rejects.toMatchObject({ code: ErrorCode.CANCELLED });
    await expect(third).resolves.toBe('third');
    expect(ran).toBe(false);
    expect(bulkhead.active).toBe(0);
  });

  it('tryEnter / leave: the slot accounting the call pipeline uses', async () => {
    const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueued: 1 });
    expect(bulkhead.tryEnter()).toBe(true);
    expect(bulkhead.tryEnter()).toBe(false);
    const waiting = bulkhead.acquire();
    await expect(bulkhead.acquire()).rejects.toMatchObject({ code: ErrorCode.BULKHEAD_REJECTED });
    bulkhead.leave(); // hands the slot to the waiting one
    await waiting;
    expect(bulkhead.active).toBe(1);
    bulkhead.leave();
    expect(bulkhead.active).toBe(0);
    expect(() => bulkhead.leave()).toThrow(/more slots given back/);
  });

  it('refuses nonsense limits', () => {
    expect(() => new Bulkhead({ maxConcurrent: 0 })).toThrow(RangeError);
    expect(() => new Bulkhead({ maxConcurrent: 1, maxQueued: -1 })).toThrow(RangeError);
  });
});
