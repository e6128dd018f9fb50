import { describe, expect, it } from 'vitest';
import { HealthState, NOT_DRAINING_CHECK } from '../../src/observe/index.js';

describe('health', () => {
  it('is ready with no checks, and live always', async () => {
    const health = new HealthState();
    expect(health.live()).toEqual({ ok: true });
    expect(await health.ready()).toEqual({ ok: true, checks: { [NOT_DRAINING_CHECK]: true } });
  });

  it('is ready only when every check passes', async () => {
    const health = new HealthState();
    let dbUp = true;
    health.addReadinessCheck('registry', () => true);
    health.addReadinessCheck('db', async () => dbUp);
    expect((await health.ready()).ok).toBe(true);
    dbUp = false;
    expect(await health.ready()).toEqual({ ok: false, checks: { [NOT_DRAINING_CHECK]: true, registry: true, db: false } });
  });

  it('counts a throwing, rejecting or stuck check as failing, within its bound', async () => {
    const health = new HealthState({ checkTimeoutMs: 50 });
    health.addReadinessCheck('throws', () => {
      throw new Error('boom');
    });
    health.addReadinessCheck('rejects', () => Promise.reject(new Error('boom')));
    health.addReadinessCheck('stuck', () => new Promise<boolean>(() => {}));
    health.addReadinessCheck('truthy-but-not-true', () => 1 as unknown as boolean);
    const started = Date.now();
    const { ok, checks } = await health.ready();
    expect(ok).toBe(false);
    expect(checks).toEqual({ [NOT_DRAINING_CHECK]: true, throws: false, rejects: false, stuck: false, 'truthy-but-not-true': false });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('is not ready while draining, whatever the checks say', async () => {
    const health = new HealthState();
    health.addReadinessCheck('registry', () => true);
    health.setDraining(true);
    expect(await health.ready()).toEqual({ ok: false, checks: { [NOT_DRAINING_CHECK]: false, registry: true } });
    health.setDraining(false);
    expect((await health.ready()).ok).toBe(true);
  });

  it('refuses duplicate and reserved check names', () => {
    const health = new HealthState();
    health.addReadinessCheck('db', () => true);
    expect(() => health.addReadinessCheck('db', () => true)).toThrow(/already/);
    expect(() => health.addReadinessCheck(NOT_DRAINING_CHECK, () => true)).toThrow(/reserved/);
  });
});
