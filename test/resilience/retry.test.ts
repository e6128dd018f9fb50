import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/balance/index.js';
import {
  backoffCeiling,
  Deadline,
  ErrorCode,
  fullJitterBackoff,
  Retry,
  RetryBudget,
  ShoalError,
  type GiveUpReason,
} from '../../src/resilience/index.js';
import { FakeClock } from './fake-clock.js';

const unavailable = () => new ShoalError({ code: ErrorCode.UNAVAILABLE, message: 'connection refused', retryable: true });
const rejected = () => new ShoalError({ code: 'INVALID_ARGUMENT', message: 'bad sku', retryable: false });

/** A downstream that fails `failures` times, then answers. */
function flaky(failures: number, error: () => unknown) {
  let calls = 0;
  const fn = async () => {
    calls++;
    if (calls <= failures) throw error();
    return 'ok';
  };
  return { fn, calls: () => calls };
}

describe('retry eligibility', () => {
  it('retries unknown errors only for idempotent actions', async () => {
    const clock = new FakeClock();
    const retry = new Retry({ clock, rng: seededRng(1), maxAttempts: 3 });
    const idem = flaky(2, () => new Error('socket hang up'));
    await expect(retry.execute(idem.fn, { idempotent: true })).resolves.toBe('ok');
    expect(idem.calls()).toBe(3);
    const nonIdem = flaky(2, () => new Error('socket hang up'));
    await expect(retry.execute(nonIdem.fn, { idempotent: false })).rejects.toThrow('socket hang up');
    expect(nonIdem.calls()).toBe(1);
  });

  it('retries errors marked retryable even for non-idempotent actions, never those marked not', async () => {
    const clock = new FakeClock();
    const retry = new Retry({ clock, rng: seededRng(1), maxAttempts: 3 });
    const marked = flaky(1, unavailable);
    await expect(retry.execute(marked.fn, { idempotent: false })).resolves.toBe('ok');
    expect(marked.calls()).toBe(2);
    const notRetryable = flaky(1, rejected);
    await expect(retry.execute(notRetryable.fn, { idempotent: true })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(notRetryable.calls()).toBe(1);
  });

  it('stops after maxAttempts with the last error', async () => {
    const reasons: GiveUpReason[] = [];
    const retry = new Retry({ clock: new FakeClock(), rng: seededRng(1), maxAttempts: 4, onGiveUp: (e) => reasons.push(e.reason) });
    const always = flaky(100, unavailable);
    await expect(retry.execute(always.fn, { idempotent: true })).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    expect(always.calls()).toBe(4);
    expect(reasons).toEqual(['attempts']);
  });
});

describe('backoff', () => {
  it('grows exponentially up to the cap and is jittered over [0, ceiling)', () => {
    const opts = { baseMs: 10, maxMs: 500 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((r) => backoffCeiling(r, opts))).toEqual([10, 20, 40, 80, 160, 320, 500, 500]);
    const rng = seededRng(5);
    const means: string[] = [];
    for (let retry = 1; retry <= 7; retry++) {
      const ceiling = backoffCeiling(retry, opts);
      const samples = Array.from({ length: 4_000 }, () => fullJitterBackoff(retry, rng, opts));
      const min = Math.min(...samples);
      const max = Math.max(...samples);
      const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
      expect(min).toBeGreaterThanOrEqual(0);
      expect(max).toBeLessThan(ceiling);
      // Spread over the whole interval, not clustered: full jitter.
      expect(min).toBeLessThan(ceiling * 0.01);
      expect(max).toBeGreaterThan(ceiling * 0.99);
      expect(Math.abs(mean / ceiling - 0.5)).toBeLessThan(0.03);
      means.push(`${retry}:${mean.toFixed(1)}/${ceiling}`);
    }
    console.log(`full-jitter backoff mean/ceiling ms by retry: ${means.join(' ')}`);
  });

  it('waits the jittered delays between attempts on the injected clock', async () => {
    const clock = new FakeClock();
    const retry = new Retry({ clock, rng: seededRng(11), maxAttempts: 5, backoff: { baseMs: 100, maxMs: 10_000 } });
    const f = flaky(4, unavailable);
    await retry.execute(f.fn, { idempotent: true });
    expect(clock.sleeps).toHaveLength(4);
    clock.sleeps.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(100 * 2 ** i);
    });
    expect(clock.now()).toBe(clock.sleeps.reduce((a, b) => a + b, 0));
  });
});

describe('retries and the deadline', () => {
  it('does not wait for a retry the deadline cannot fit, and reports the real cause', async () => {
    const clock = new FakeClock();
    const reasons: GiveUpReason[] = [];
    const retry = new Retry({
      clock,
      rng: () => 0.99,
      maxAttempts: 10,
      backoff: { baseMs: 100, maxMs: 100 },
      onGiveUp: (e) => reasons.push(e.reason),
    });
    const f = flaky(100, unavailable);
    const deadline = Deadline.after(0, 250);
    await expect(retry.execute(f.fn, { idempotent: true, deadline })).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    // Attempts at t=0 and t=99; a third would start at 198 and the wait after it (99) ends at 297 > 250.
    expect(f.calls()).toBe(3);
    expect(reasons).toEqual(['deadline']);
    expect(clock.now()).toBeLessThan(250);
  });

  it('makes no further attempt once work itself has used up the budget', async () => {
    const clock = new FakeClock();
    const reasons: GiveUpReason[] = [];
    const retry = new Retry({ clock, rng: () => 0, maxAttempts: 5, onGiveUp: (e) => reasons.push(e.reason) });
    const seen: number[] = [];
    const deadline = Deadline.after(0, 500);
    const slowFailing = async ({ deadline: d }: { deadline: Deadline }) => {
      // Each attempt sees the call's deadline, to propagate downstream.
      seen.push(d.remaining(clock.now()));
      clock.advance(300);
      throw unavailable();
    };
    await expect(retry.execute(slowFailing, { idempotent: true, deadline })).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    expect(seen).toEqual([500, 200]);
    expect(reasons).toEqual(['deadline']);
  });
});

describe('retry budget', () => {
  it('caps retries of 1,000 failing calls at 10% + the minimum', async () => {
    const clock = new FakeClock();
    const run = async (budget: RetryBudget | undefined) => {
      let retries = 0;
      const retry = new Retry({ clock, rng: seededRng(2), maxAttempts: 3, budget, onRetry: () => retries++ });
      let attempts = 0;
      for (let i = 0; i < 1_000; i++) {
        const failing = async () => {
          attempts++;
          throw unavailable();
        };
        await retry.execute(failing, { idempotent: true }).catch(() => undefined);
        // Backoff sleeps here are ≤ 50 ms a call; keep the whole run well inside one window.
      }
      return { retries, attempts };
    };
    const unbounded = await run(undefined);
    const start = clock.now();
    const budget = new RetryBudget({ ratio: 0.1, minRetries: 10, windowMs: 3_600_000 });
    const bounded = await run(budget);
    expect(clock.now() - start).toBeLessThan(3_600_000);
    console.log(
      `retry budget: 1000 failing calls, maxAttempts 3 → ${unbounded.retries} retries without a budget, ` +
        `${bounded.retries} with 10% + 10 (bound ${0.1 * 1000 + 10})`,
    );
    expect(unbounded.retries).toBe(2_000);
    expect(bounded.retries).toBeLessThanOrEqual(0.1 * 1_000 + 10);
    // The budget is spent, not just refused: retries were allowed up to it.
    expect(bounded.retries).toBeGreaterThanOrEqual(0.1 * 1_000);
    expect(bounded.attempts).toBe(1_000 + bounded.retries);
  });

  it('earns retries back as old requests leave the window', () => {
    const budget = new RetryBudget({ ratio: 0.5, minRetries: 0, windowMs: 1_000 });
    for (let i = 0; i < 4; i++) budget.recordRequest(0);
    expect([1, 2, 3].map(() => budget.tryAcquireRetry(10))).toEqual([true, true, false]);
    expect(budget.stats(10)).toEqual({ requests: 4, retries: 2 });
    // A window later the old requests and retries are forgotten; new requests earn new retries.
    budget.recordRequest(1_500);
    budget.recordRequest(1_500);
    expect(budget.stats(1_500)).toEqual({ requests: 2, retries: 0 });
    expect([1, 2].map(() => budget.tryAcquireRetry(1_500))).toEqual([true, false]);
  });
});
