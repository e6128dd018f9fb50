import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBackup, selectPool, type EndpointRef } from '../../src/resilience/index.js';

const primary = (id: string): EndpointRef => ({ id, metadata: { role: 'primary' } });
const backup = (id: string): EndpointRef => ({ id, metadata: { role: 'backup' } });

describe('failover', () => {
  it('uses the backup pool only when every primary is unhealthy', () => {
    const all = [primary('p1'), primary('p2'), backup('b1'), { id: 'p3' }];
    const down = new Set<string>();
    const healthy = (e: EndpointRef) => !down.has(e.id);

    expect(selectPool(all, healthy)).toEqual({ tier: 'primary', endpoints: [all[0], all[1], all[3]] });
    down.add('p1').add('p2');
    // p3 has no role tag: it is a primary, and still up.
    expect(selectPool(all, healthy).tier).toBe('primary');
    down.add('p3');
    expect(selectPool(all, healthy)).toEqual({ tier: 'backup', endpoints: [all[2]] });
    down.add('b1');
    expect(selectPool(all, healthy)).toEqual({ tier: 'none', endpoints: [] });
    down.delete('p2');
    expect(selectPool(all, healthy)).toEqual({ tier: 'primary', endpoints: [all[1]] });
  });

  it('accepts another tag for the backup pool', () => {
    const dr = { id: 'dr1', metadata: { zone: 'dr' } };
    expect(isBackup(dr, { backupTag: { key: 'zone', value: 'dr' } })).toBe(true);
    expect(selectPool([dr], () => true, { backupTag: { key: 'zone', value: 'dr' } }).tier).toBe('backup');
  });

  it('property: backups are chosen exactly when no primary is healthy, and only healthy ones', () => {
    const arb = fc.array(fc.record({ isBackup: fc.boolean(), healthy: fc.boolean() }), { maxLength: 10 });
    fc.assert(
      fc.property(arb, (spec) => {
        const eps = spec.map((s, i) => (s.isBackup ? backup(`e${i}`) : primary(`e${i}`)));
        const healthy = (e: EndpointRef) => spec[Number(e.id.slice(1))]!.healthy;
        const { tier, endpoints } = selectPool(eps, healthy);
        const healthyPrimary = spec.some((s) => !s.isBackup && s.healthy);
        const healthyBackup = spec.some((s) => s.isBackup && s.healthy);
        expect(tier).toBe(healthyPrimary ? 'primary' : healthyBackup ? 'backup' : 'none');
        for (const e of endpoints) {
          expect(healthy(e)).toBe(true);
          expect(isBackup(e)).toBe(tier === 'backup');
        }
      }),
    );
  });
});

describe('failover with breakers and outlier ejection as the health signal', () => {
  it('moves to the backup pool once both primaries are out, and back when one returns', async () => {
    const { CircuitBreakers, OutlierDetector } = await import('../../src/resilience/index.js');
    let now = 0;
    const breakers = new CircuitBreakers({ now: () => now, minimumRequests: 3, cooldownMs: 1_000 });
    const outliers = new OutlierDetector({ now: () => now, consecutiveFailures: 2, baseEjectionMs: 5_000, maxEjectedFraction: 1 });
    const pool = [primary('p1'), primary('p2'), backup('b1')];
    outliers.setEndpoints(pool.map((e) => e.id));
    const healthy = (e: EndpointRef) => breakers.canAccept(e.id) && !outliers.isEjected(e.id);

    // p1 trips its breaker.
    for (let i = 0; i < 3; i++) breakers.for('p1').failure(breakers.for('p1').acquire());
    expect(selectPool(pool, healthy).endpoints.map((e) => e.id)).toEqual(['p2']);
    // p2 is ejected as an outlier.
    outliers.record('p2', false);
    outliers.record('p2', false);
    expect(selectPool(pool, healthy)).toEqual({ tier: 'backup', endpoints: [pool[2]] });
    // p1's cooldown ends: it accepts a probe, so the primaries are back.
    now = 1_000;
    expect(selectPool(pool, healthy)).toEqual({ tier: 'primary', endpoints: [pool[0]] });
  });
});
