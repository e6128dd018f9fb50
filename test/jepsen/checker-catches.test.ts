// The pipeline catches a real bug: a client that serves reads from a local cache (stale once
// another client writes) is run through the same workload, recorder and checker against a real
// cluster, and the run must report a violation with the seed and a minimal failing history.
// The lock run's checks are shown to fire on overlapping holders and non-increasing tokens.
import { describe, expect, it } from 'vitest';
import { lockModel, type LockInput, type LockOutput, type Operation } from '../../src/lincheck/index.js';
import { etcdLauncher } from '../support/cluster.js';
import { checkWith, EtcdKvClient, type KvClient } from '../support/history.js';
import { exclusionProblems } from './lock-workload.js';
import { runRegister, seedFromEnv } from './runs.js';

/** The bug: a get answers from what this client last read or wrote, when it has anything. */
class StaleCacheClient implements KvClient {
  private readonly real: EtcdKvClient;
  private readonly cache = new Map<string, { value: string | null; modRevision: string }>();

  constructor(readonly endpoint: string) {
    this.real = new EtcdKvClient(endpoint);
  }

  async get(key: string, timeoutMs: number): Promise<{ value: string | null; modRevision: string }> {
    const hit = this.cache.get(key);
    if (hit) return hit;
    const r = await this.real.get(key, timeoutMs);
    this.cache.set(key, r);
    return r;
  }

  async put(key: string, value: string, timeoutMs: number): Promise<{ modRevision: string }> {
    const r = await this.real.put(key, value, timeoutMs);
    this.cache.set(key, { value, modRevision: r.modRevision });
    return r;
  }

  casValue(key: string, expect: string | null, value: string, timeoutMs: number): Promise<{ succeeded: boolean; modRevision: string }> {
    return this.real.casValue(key, expect, value, timeoutMs);
  }

  casRevision(key: string, modRevision: string, value: string, timeoutMs: number): Promise<{ succeeded: boolean; modRevision: string }> {
    return this.real.casRevision(key, modRevision, value, timeoutMs);
  }

  close(): void {
    this.real.close();
  }
}

describe('the Jepsen pipeline catches a stale-read bug', () => {
  it('reports a violation with seed and minimal history', async () => {
    const seed = seedFromEnv();
    const report = await runRegister({
      launcher: etcdLauncher,
      nodes: 3,
      seed,
      durationMs: 3000,
      clients: 4,
      quiet: true,
      makeClient: (endpoint) => new StaleCacheClient(endpoint),
    });
    console.log(report.report);
    expect(report.violations).toBe(1);
    expect(report.report).toContain(`seed: ${seed}`);
    expect(report.report).toContain('cannot be linearized');
    // The minimal history names a read that returned a value other than the latest.
    expect(report.report).toMatch(/get\(\) -> /);
  }, 60_000);
});

describe('the lock checks catch overlapping holders', () => {
  it('flags a use inside another holder\'s tenure, and not one outside it', () => {
    const tenures = [
      { owner: 'c0#1', token: 10, from: 100, to: 200 },
      { owner: 'c1#1', token: 12, from: 250, to: 300 },
    ];
    expect(exclusionProblems([{ owner: 'c0#1', token: 10, at: 150 }, { owner: 'c1#1', token: 12, at: 260 }], tenures)).toEqual([]);
    const problems = exclusionProblems([{ owner: 'c0#1', token: 10, at: 270 }], tenures);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("inside c1#1's tenure");
  });

  it('the lock model refuses two holders at once and a token that does not increase', () => {
    const acquire = (owner: string, token: number, call: number, ret: number): Operation<LockInput, LockOutput> =>
      ({ clientId: owner, input: { type: 'acquire', owner }, output: { ok: true, token }, call, return: ret });
    const release = (owner: string, call: number, ret: number): Operation<LockInput, LockOutput> =>
      ({ clientId: owner, input: { type: 'release', owner }, output: { ok: true }, call, return: ret });
    expect(checkWith(lockModel(), [acquire('a', 5, 0, 1), release('a', 2, 3), acquire('b', 7, 4, 5)]).result.outcome).toBe('ok');
    expect(checkWith(lockModel(), [acquire('a', 5, 0, 1), acquire('b', 7, 4, 5)]).result.outcome).toBe('illegal');
    expect(checkWith(lockModel(), [acquire('a', 5, 0, 1), release('a', 2, 3), acquire('b', 5, 4, 5)]).result.outcome).toBe('illegal');
  });
});
