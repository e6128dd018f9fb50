// The orchestrator's pure judgement of branch failures and its backoff.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShoalError } from '../../src/errors/index.js';
import { backoffDelay, classifyFailure } from '../../src/txn/index.js';

const err = (code: string, retryable = false, details?: Record<string, unknown>) => new ShoalError({ code, message: code, retryable, details });

describe('classifyFailure', () => {
  it('transient: retryable, transport/availability codes, unknown outcomes, foreign errors', () => {
    for (const code of ['DEADLINE_EXCEEDED', 'UNAVAILABLE', 'NO_ENDPOINT', 'CIRCUIT_OPEN', 'CONNECTION_LOST', 'INTERNAL']) {
      expect(classifyFailure(err(code))).toBe('transient');
    }
    expect(classifyFailure(err('ACTION_NOT_FOUND', true))).toBe('transient');
    expect(classifyFailure(err('WHATEVER', false, { maybeExecuted: true }))).toBe('transient');
    expect(classifyFailure(new Error('socket hang up'))).toBe('transient');
    expect(classifyFailure('a string')).toBe('transient');
  });

  it('business: any other definite answer', () => {
    for (const code of ['OUT_OF_STOCK', 'INSUFFICIENT_FUNDS', 'BRANCH_COMPENSATED', 'INVALID_ARGUMENT', 'NOT_FOUND']) {
      expect(classifyFailure(err(code))).toBe('business');
    }
  });
});

describe('backoffDelay', () => {
  it('stays within [step/2, step] with step = min(max, base * 2^(attempt-1))', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 1_000 }), fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, base, extra, r) => {
        const policy = { baseMs: base, maxMs: base + extra };
        const step = Math.min(policy.maxMs, base * 2 ** (attempt - 1));
        const d = backoffDelay(attempt, policy, () => r);
        expect(d).toBeGreaterThanOrEqual(Math.floor(step / 2));
        expect(d).toBeLessThanOrEqual(Math.ceil(step));
      }),
    );
    expect(() => backoffDelay(0, { baseMs: 1, maxMs: 2 }, () => 0)).toThrow(RangeError);
  });
});
