import { describe, expect, it } from 'vitest';
import { CircuitBreaker, CircuitBreakers, ErrorCode, type BreakerStateChange } from '../../src/resilience/index.js';
import { FakeClock } from './fake-clock.js';

function setup(overrides: Partial<ConstructorParameters<typeof CircuitBreaker>[1]> = {}) {
  const clock = new FakeClock();
  const changes: BreakerStateChange[] = [];
  const breaker = new CircuitBreaker('goods-1', {
    now: () => clock.now(),
    failureRateThreshold: 0.5,
    minimumRequests: 10,
    windowMs: 10_000,
    cooldownMs: 5_000,
    halfOpenProbes: 2,
    onStateChange: (c) => changes.push(c),
    ...overrides,
  });
  const call = (ok: boolean) => {
    const p = breaker.acquire();
    if (ok) breaker.success(p);
    else breaker.failure(p);
  };
  return { clock, changes, breaker, call };
}

describe('circuit breaker', () => {
  it('opens on the window failure rate, half-opens after the cooldown, closes on a probe success', () => {
    const { clock, changes, breaker, call } = setup();
    // 9 failures: at the rate, but under the minimum number of requests.
    for (let i = 0; i < 9; i++) call(false);
    expect(breaker.state).toBe('closed');
    // 10 requests, 9 failed (90% ≥ 50%): opens.
    call(true);
    expect(breaker.state).toBe('closed');
    call(false);
    expect(breaker.state).toBe('open');
    expect(changes[0]).toMatchObject({ endpoint: 'goods-1', from: 'closed', to: 'open', at: 0 });
    expect(changes[0]!.failureRate).toBeCloseTo(10 / 11);

    // Open: refused without reaching the endpoint, and retryable elsewhere.
    expect(() => breaker.acquire()).toThrow(expect.objectContaining({ code: ErrorCode.CIRCUIT_OPEN, retryable: true, instance: 'goods-1' }));
    expect(breaker.canAccept()).toBe(false);
    clock.advance(4_999);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.state).toBe('half-open');

    // Half-open: two probes at once, the third refused.
    const p1 = breaker.acquire();
    const p2 = breaker.acquire();
    expect(p1.probe && p2.probe).toBe(true);
    expect(breaker.tryAcquire()).toBeUndefined();
    expect(breaker.canAccept()).toBe(false);
    breaker.success(p1);
    expect(breaker.state).toBe('closed');
    // The other probe's late failure belongs to the half-open generation: ignored.
    breaker.failure(p2);
    expect(breaker.state).toBe('closed');
    expect(changes.map((c) => `${c.from}->${c.to}@${c.at}`)).toEqual(['closed->open@0', 'open->half-open@5000', 'half-open->closed@5000']);

    // Closed again with a fresh window: one failure does not reopen it.
    call(false);
    expect(breaker.state).toBe('closed');
  });

  it('reopens on a probe failure for another full cooldown', () => {
    const { clock, changes, breaker, call } = setup({ minimumRequests: 2 });
    call(false);
    call(false);
    expect(breaker.state).toBe('open');
    clock.advance(5_000);
    const probe = breaker.acquire();
    clock.advance(100);
    breaker.failure(probe);
    expect(breaker.state).toBe('open');
    clock.advance(4_999);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.state).toBe('half-open');
    expect(changes.map((c) => c.to)).toEqual(['open', 'half-open', 'open', 'half-open']);
  });

  it('ignores outcomes of calls that started before it opened', () => {
    const { clock, breaker, call } = setup({ minimumRequests: 2 });
    const early = breaker.acquire();
    call(false);
    call(false);
    expect(breaker.state).toBe('open');
    clock.advance(5_000);
    expect(breaker.state).toBe('half-open');
    // A slow call from the closed era must not close the half-open breaker.
    breaker.success(early);
    expect(breaker.state).toBe('half-open');
  });

  it('forgets failures that slid out of the window', () => {
    const { clock, breaker, call } = setup({ minimumRequests: 4 });
    call(false);
    call(false);
    call(false);
    clock.advance(11_000);
    call(false);
    // Counting the old three, this would be 4 failures in 4 requests: open.
    expect(breaker.state).toBe('closed');
    call(true);
    call(true);
    expect(breaker.state).toBe('closed');
    // 2 of 4 in the window now: at the threshold.
    call(false);
    expect(breaker.state).toBe('open');
  });

  it('frees a probe slot when a probe is released without a verdict', () => {
    const { clock, breaker, call } = setup({ minimumRequests: 1, halfOpenProbes: 1 });
    call(false);
    clock.advance(5_000);
    const probe = breaker.acquire();
    expect(breaker.tryAcquire()).toBeUndefined();
    breaker.release(probe);
    expect(breaker.state).toBe('half-open');
    expect(breaker.tryAcquire()).toBeDefined();
  });

  it('execute counts only errors the caller says are the endpoint’s fault', async () => {
    const { breaker } = setup({ minimumRequests: 2 });
    const notFound = Object.assign(new Error('no such order'), { code: 'NOT_FOUND' });
    const isFailure = (e: unknown) => (e as { code?: string }).code !== 'NOT_FOUND';
    for (let i = 0; i < 5; i++) await expect(breaker.execute(async () => Promise.reject(notFound), isFailure)).rejects.toBe(notFound);
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(async () => 7)).resolves.toBe(7);
  });

  it('keeps one breaker per endpoint', () => {
    const clock = new FakeClock();
    const set = new CircuitBreakers({ now: () => clock.now(), minimumRequests: 1 });
    const a = set.for('a');
    a.failure(a.acquire());
    expect(set.canAccept('a')).toBe(false);
    expect(set.canAccept('b')).toBe(true);
    expect(set.for('a')).toBe(a);
    set.retain(['b']);
    expect(set.canAccept('a')).toBe(true);
  });
});
