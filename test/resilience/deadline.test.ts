import { describe, expect, it, vi } from 'vitest';
import { Deadline, DEADLINE_HEADER, ErrorCode, Retry, ShoalError, withinDeadline } from '../../src/resilience/index.js';
import { FakeClock } from './fake-clock.js';

describe('Deadline', () => {
  it('counts down and propagates as the remaining budget, re-anchored on the receiver clock', () => {
    const caller = new FakeClock(1_000);
    const d = Deadline.after(caller.now(), 500);
    caller.advance(120.7);
    expect(d.remaining(caller.now())).toBeCloseTo(379.3);
    // Floored: the callee never gets more time than the caller has left.
    const header = d.toHeader(caller.now());
    expect(header).toBe('379');
    // The callee's clock is unrelated to the caller's.
    const callee = new FakeClock(9_000_000);
    const inherited = Deadline.fromHeader(header, callee.now());
    expect(inherited.remaining(callee.now())).toBe(379);
    expect(Deadline.fromHeader(undefined, 0).isNone).toBe(true);
    expect(Deadline.NONE.toHeader(0)).toBeUndefined();
    expect(DEADLINE_HEADER).toMatch(/^[a-z-]+$/);
  });

  it('takes the tighter of two deadlines', () => {
    const a = Deadline.after(0, 100);
    const b = Deadline.after(0, 50);
    expect(a.min(b)).toBe(b);
    expect(b.min(Deadline.NONE)).toBe(b);
  });

  it('refuses malformed budgets in the header', () => {
    for (const bad of ['-5', '1.5', 'soon', '', '99999999999']) {
      expect(() => Deadline.fromHeader(bad, 0), bad).toThrow(ShoalError);
    }
  });

  it('stops work once spent: DEADLINE_EXCEEDED, not retryable, downstream never called', async () => {
    const clock = new FakeClock();
    const d = Deadline.after(clock.now(), 100);
    clock.advance(100);
    const downstream = vi.fn(async () => 'served');
    const err = await withinDeadline(d, clock.now(), downstream).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShoalError);
    expect((err as ShoalError).code).toBe(ErrorCode.DEADLINE_EXCEEDED);
    expect((err as ShoalError).retryable).toBe(false);
    expect(downstream).not.toHaveBeenCalled();
    expect(() => d.toHeader(clock.now())).toThrow(/deadline exceeded/);

    // The same through a retry policy: not even the first attempt runs.
    const retry = new Retry({ clock, rng: () => 0.5 });
    await expect(retry.execute(downstream, { idempotent: true, deadline: d })).rejects.toMatchObject({
      code: ErrorCode.DEADLINE_EXCEEDED,
    });
    expect(downstream).not.toHaveBeenCalled();
  });

  it('passes the remaining budget to work that still has time', async () => {
    const d = Deadline.after(0, 250);
    await expect(withinDeadline(d, 50, async (ms) => ms)).resolves.toBe(200);
  });
});
