import { describe, expect, it } from 'vitest';
import { OutlierDetector } from '../../src/resilience/index.js';
import { FakeClock } from './fake-clock.js';

function setup(ids: string[], fraction = 0.5) {
  const clock = new FakeClock();
  const events: string[] = [];
  const detector = new OutlierDetector({
    now: () => clock.now(),
    consecutiveFailures: 3,
    baseEjectionMs: 1_000,
    maxEjectionMs: 2_500,
    maxEjectedFraction: fraction,
    onEject: (e) => events.push(`eject ${e.endpoint} until ${e.untilMs} (#${e.ejections})`),
    onReturn: (e) => events.push(`return ${e.endpoint} at ${e.at}`),
  });
  detector.setEndpoints(ids);
  const fail = (id: string, n: number) => {
    for (let i = 0; i < n; i++) detector.record(id, false);
  };
  return { clock, events, detector, fail };
}

describe('outlier ejection', () => {
  it('ejects after K consecutive failures; a success resets the count', () => {
    const { detector, fail } = setup(['a', 'b', 'c', 'd']);
    fail('a', 2);
    detector.record('a', true);
    fail('a', 2);
    expect(detector.isEjected('a')).toBe(false);
    fail('a', 1);
    expect(detector.isEjected('a')).toBe(true);
    const eps = ['a', 'b', 'c', 'd'].map((id) => ({ id }));
    expect(detector.available(eps).map((e) => e.id)).toEqual(['b', 'c', 'd']);
  });

  it('returns the endpoint after its ejection time, which grows with repeated ejections up to the cap', () => {
    const { clock, events, detector, fail } = setup(['a', 'b']);
    fail('a', 3);
    clock.advance(999);
    expect(detector.isEjected('a')).toBe(true);
    clock.advance(1);
    expect(detector.isEjected('a')).toBe(false);
    // Ejected again right away: twice as long.
    fail('a', 3);
    clock.advance(1_999);
    expect(detector.isEjected('a')).toBe(true);
    clock.advance(1);
    expect(detector.isEjected('a')).toBe(false);
    // Third time: 3 × base would be 3,000 but the cap is 2,500.
    fail('a', 3);
    clock.advance(2_500);
    expect(detector.isEjected('a')).toBe(false);
    expect(events).toEqual([
      'eject a until 1000 (#1)',
      'return a at 1000',
      'eject a until 3000 (#2)',
      'return a at 3000',
      'eject a until 5500 (#3)',
      'return a at 5500',
    ]);
  });

  it('lets the multiplier decay while the endpoint behaves', () => {
    const { clock, events, detector, fail } = setup(['a', 'b']);
    fail('a', 3);
    clock.advance(1_000);
    fail('a', 3);
    clock.advance(2_000);
    expect(detector.isEjected('a')).toBe(false);
    // Two base periods of good behaviour take the count from 2 back to 0.
    clock.advance(2_000);
    fail('a', 3);
    expect(events.at(-1)).toBe('eject a until 6000 (#1)');
  });

  it('never ejects more than the allowed fraction of the pool', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const { clock, detector, fail } = setup(ids, 0.5);
    for (const id of ids) fail(id, 3);
    // floor(0.5 · 5) = 2.
    expect(detector.ejectedCount()).toBe(2);
    expect(ids.filter((id) => detector.isEjected(id))).toEqual(['a', 'b']);
    // c is still failing; once a and b return there is room and its next failure ejects it.
    clock.advance(1_000);
    expect(detector.ejectedCount()).toBe(0);
    fail('c', 1);
    expect(detector.isEjected('c')).toBe(true);
    expect(detector.ejectedCount()).toBe(1);
  });

  it('does not eject the only endpoint at a 50% cap', () => {
    const { detector, fail } = setup(['solo']);
    fail('solo', 10);
    expect(detector.isEjected('solo')).toBe(false);
  });
});
