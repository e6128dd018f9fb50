// Failover with real processes under steady load through the gateway (issue 5, "Must show"). One
// `shoal up` for the file (3 coordinators, users ×2, goods ×2, the gateway); a closed-loop load
// of GET /api/v1/goods/:id at concurrency 16 through the gateway, every outcome counted, while a
// goods instance is SIGKILLed, drained by `shoal scale goods=1` (SIGTERM), and SIGSTOPped (then
// SIGCONTed) — in that order, so the state a stopped instance leaves behind in the gateway's pipeline
// (ejection, balancer statistics) does not leak into the other scenarios.
// Each scenario prints one summary line: requests, failures, p99 latency, time to leave the registry.
import { Etcd3, type IKeyValue } from 'etcd3';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClosedLoad, goodPerSecond, windowStats, type WindowStats } from './load.js';
import { alive, ShopUp } from './shop-up.js';

const CONCURRENCY = 16;
const GOODS_PREFIX = '/shoal/services/goods/';
/** Discovery's lease TTL (src/discovery). */
const LEASE_TTL_MS = 3_000;
/** How late past the TTL a dead instance's key may still be there: lease expiry is checked on the coordinator's tick and is a Raft write. */
const LEAVE_SLACK_MS = 1_500;
const MAX_FAILURE_RATE = 0.001;
/** A window (1 s before to 5 s after the fault) must hold at least this many requests to say anything at 0.1 %. */
const MIN_REQUESTS = 2_000;
/**
 * Seconds of load before the SIGSTOP whose median good/s is the throughput baseline: one second
 * alone swings by 2× or more on a loaded machine, and the check should not hang on it.
 */
const BASELINE_SECONDS = 4;
/** A call slower than this after the stop went to the stopped instance (p99 is tens of ms even under load). */
const SLOW_MS = 1_000;
/** Calls sent after the stop that may still reach the stopped instance before it is avoided: a few per load slot. */
const MAX_SLOW_AFTER_STOP = 2 * CONCURRENCY;
/** A second below this share of the baseline rate is a stall, not a slower machine. */
const STALL_FRACTION = 0.1;
/** After SIGCONT the instance re-registers within about a keep-alive period; routing should find it again within a few seconds. */
const RESUME_BOUND_MS = 15_000;

interface GoodsRecord {
  key: string;
  id: string;
  pid: number;
  adminUrl: string;
  ready: boolean;
}

let shop: ShopUp | undefined;
let etcd: Etcd3 | undefined;
let goodsId = '';
let userToken = '';
const loads: ClosedLoad[] = [];

async function api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await request(`${shop!.gateway}${path}`, {
    method: method as 'GET' | 'POST',
    headers: { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    headersTimeout: 15_000,
    bodyTimeout: 15_000,
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

async function goodsRecords(): Promise<GoodsRecord[]> {
  const values = await etcd!.getAll().prefix(GOODS_PREFIX).strings();
  return Object.entries(values)
    .map(([key, text]) => ({ key, ...(JSON.parse(text) as Omit<GoodsRecord, 'key'>) }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** Polls `probe` until it returns a value (not undefined); the state lives in other processes, so polling is the only way to see it. */
async function pollUntil<T>(what: string, boundMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + boundMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what}: not within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Two ready goods instances in the registry, none of them `excluded`. */
function twoReadyGoods(excluded: string[] = []): Promise<GoodsRecord[]> {
  return pollUntil('two ready goods instances', 45_000, async () => {
    const records = await goodsRecords();
    return records.length === 2 && records.every((r) => r.ready && !excluded.includes(r.id)) ? records : undefined;
  });
}

/** Lets the load run until `at` (performance.now()): a measurement window, not a wait for state. */
function measureUntil(at: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())));
}

/** Resolves with the time (performance.now()) the registry deletes `key`; `cancel` stops watching. */
async function watchDeletion(key: string): Promise<{ deleted: Promise<number>; cancel: () => Promise<void> }> {
  const watcher = await etcd!.watch().prefix(GOODS_PREFIX).create();
  const deleted = new Promise<number>((resolve) => {
    watcher.on('delete', (kv: IKeyValue) => {
      if (kv.key.toString() === key) resolve(performance.now());
    });
  });
  return { deleted, cancel: () => watcher.cancel() };
}

function bounded<T>(promise: Promise<T>, boundMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${boundMs} ms`)), boundMs);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** goods.get calls an instance answered (its own server-side counter, from its /metrics). */
async function servedGets(adminUrl: string): Promise<number> {
  const res = await request(new URL('/metrics', adminUrl), { headersTimeout: 5_000, bodyTimeout: 5_000 });
  const text = await res.body.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('shoal_calls_total{') && line.includes('side="server"') && line.includes('action="goods.get"') && line.includes('outcome="ok"')) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function newLoad(): ClosedLoad {
  const load = new ClosedLoad(shop!.gateway, `/api/v1/goods/${goodsId}`, { authorization: `Bearer ${userToken}` }, CONCURRENCY, (body) => (body as { id?: string }).id === goodsId);
  loads.push(load);
  return load;
}

function summary(name: string, w: WindowStats, extra: string): void {
  const errors = Object.entries(w.errors)
    .map(([k, v]) => `${k}×${v}`)
    .join(', ');
  process.stdout.write(
    `[failover] ${name}: requests=${w.requests} failures=${w.failures} (${(w.failureRate * 100).toFixed(3)} %) p50=${w.p50Ms.toFixed(1)} ms p99=${w.p99Ms.toFixed(1)} ms max=${w.maxMs.toFixed(0)} ms ${extra}${errors === '' ? '' : ` errors: ${errors}`}\n`,
  );
}

beforeAll(async () => {
  // Trust-proxy so each simulated client of the load is its own address to the rate limiter (load.ts).
  shop = await ShopUp.start({ SHOAL_TRUST_PROXY: '1' }, 180_000);
  etcd = new Etcd3({ hosts: shop.coordinators().map((h) => `http://${h}`) });

  const admin = await api('POST', '/api/v1/auth/login', { email: 'admin@shop.local', password: 'shoal-admin-local' });
  expect(admin.status).toBe(200);
  const created = await api('POST', '/api/v1/goods', { name: 'failover widget', price: 1250, stock: 7 }, admin.body.access_token as string);
  expect(created.status).toBe(201);
  goodsId = created.body.id as string;

  const user = await api('POST', '/api/v1/users', { name: 'Load Tester', email: 'load@shop.local', password: 'load-tester-pw', address: '1 Loop Road', phone: '+1 555 0100' });
  expect(user.status).toBe(201);
  const login = await api('POST', '/api/v1/auth/login', { email: 'load@shop.local', password: 'load-tester-pw' });
  expect(login.status).toBe(200);
  userToken = login.body.access_token as string;
  expect((await api('GET', '/api/v1/users/me', undefined, userToken)).body.email).toBe('load@shop.local');

  // Warm-up (JIT, connections, balancer statistics): the fault windows should measure failover, not a cold start.
  const warm = newLoad();
  warm.start();
  const warmFrom = performance.now();
  await measureUntil(warmFrom + 2_000);
  await warm.stop();
  const w = windowStats(warm.samples, warmFrom, Infinity);
  summary('warm-up (no fault)', w, `good/s: [${goodPerSecond(warm.samples, warmFrom, 2).join(', ')}]`);
  expect(w.failures).toBe(0);
}, 240_000);

afterAll(async () => {
  for (const load of loads) await load.close();
  etcd?.close();
  if (shop === undefined) return;
  const { code, leftovers } = await shop.stop(40_000);
  process.stdout.write(`[failover] shoal up stopped (exit ${code}); processes left: ${leftovers.length}\n`);
  if (process.env.SHOAL_FAILOVER_KEEP === undefined) shop.removeDataDir();
  else process.stdout.write(`[failover] data and logs kept in ${shop.dataDir}\n`);
  expect(code).toBe(0);
  expect(leftovers).toEqual([]);
}, 60_000);

describe('failover through the gateway under steady load (real processes)', () => {
  it('SIGKILL of a goods instance: at most 0.1 % failed requests, its key leaves the registry within the lease TTL', async () => {
    const status = await shop!.status();
    const goods = status.instances.filter((i) => i.service === 'goods' && i.healthy);
    expect(goods).toHaveLength(2);
    const victim = goods[0]!;
    expect(shop!.owns(victim.pid)).toBe(true);
    const victimKey = `${GOODS_PREFIX}${victim.version}/${victim.id}`;
    expect((await goodsRecords()).map((r) => r.key)).toContain(victimKey);
    const watch = await watchDeletion(victimKey);

    const load = newLoad();
    load.start();
    await measureUntil(performance.now() + 1_500);
    const killedAt = performance.now();
    process.kill(victim.pid, 'SIGKILL');
    const leftAt = await bounded(watch.deleted, LEASE_TTL_MS + 10_000, `deletion of ${victimKey}`);
    await measureUntil(killedAt + 5_000);
    await load.stop();
    await watch.cancel();

    const leaveMs = leftAt - killedAt;
    const w = windowStats(load.samples, killedAt - 1_000, killedAt + 5_000);
    summary('SIGKILL', w, `left registry after ${leaveMs.toFixed(0)} ms (TTL ${LEASE_TTL_MS} ms); good/s from 1 s before: [${goodPerSecond(load.samples, killedAt - 1_000, 6).join(', ')}]`);
    expect(alive(victim.pid)).toBe(false);
    expect((await goodsRecords()).map((r) => r.key)).not.toContain(victimKey);
    expect(w.requests).toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect(w.failureRate).toBeLessThanOrEqual(MAX_FAILURE_RATE);
    expect(leaveMs).toBeLessThanOrEqual(LEASE_TTL_MS + LEAVE_SLACK_MS);

    // The supervisor restarts it under a new instance id.
    await twoReadyGoods([victim.id]);
  }, 90_000);

  it('SIGTERM (shoal scale goods=1) under load: the drained instance leaves with 0 failed requests; scale back to 2', async () => {
    const records = await twoReadyGoods();
    const watchers = await Promise.all(records.map((r) => watchDeletion(r.key)));
    const load = newLoad();
    load.start();
    await measureUntil(performance.now() + 1_000);
    const scaleAt = performance.now();
    const scaled = await shop!.cli(['scale', 'goods=1'], 60_000);
    const scaledAt = performance.now();
    await measureUntil(scaledAt + 1_000);
    await load.stop();
    const leftAt = await bounded(Promise.race(watchers.map((w) => w.deleted)), 10_000, 'the drained instance leaving the registry');
    await Promise.all(watchers.map((w) => w.cancel()));

    const remaining = await goodsRecords();
    expect(remaining).toHaveLength(1);
    const drained = records.find((r) => r.id !== remaining[0]!.id)!;
    const w = windowStats(load.samples, 0, Infinity);
    summary('SIGTERM drain', w, `(${scaled.trim()}; left registry ${(leftAt - scaleAt).toFixed(0)} ms after the scale command, which took ${(scaledAt - scaleAt).toFixed(0)} ms)`);
    expect(alive(drained.pid)).toBe(false);
    expect(w.requests).toBeGreaterThan(0);
    expect(w.failures).toBe(0);

    await shop!.cli(['scale', 'goods=2'], 90_000);
    const back = await twoReadyGoods([drained.id]);
    expect(back.map((r) => r.id)).toContain(remaining[0]!.id);
  }, 120_000);

  it('SIGSTOP of a goods instance: calls route around it (at most 0.1 % failed, few slow calls after the stop, no stalled second); after SIGCONT it serves again', async () => {
    const [victim, other] = await twoReadyGoods();
    expect(shop!.owns(victim!.pid)).toBe(true);
    const watch = await watchDeletion(victim!.key);

    const load = newLoad();
    load.start();
    // Half a second to settle the new connections, then the baseline window.
    await measureUntil(performance.now() + 500 + BASELINE_SECONDS * 1_000);
    const otherBefore = await servedGets(other!.adminUrl);
    const stoppedAt = performance.now();
    process.kill(victim!.pid, 'SIGSTOP');
    let leftAt: number | undefined;
    void watch.deleted.then((t) => (leftAt = t));
    let otherServed: number;
    try {
      await measureUntil(stoppedAt + 5_000);
      otherServed = (await servedGets(other!.adminUrl)) - otherBefore;
      await load.stop();
    } finally {
      process.kill(victim!.pid, 'SIGCONT');
    }
    const resumedAt = performance.now();
    await watch.cancel();

    const w = windowStats(load.samples, stoppedAt - 1_000, stoppedAt + 5_000);
    const perSecond = goodPerSecond(load.samples, stoppedAt - 1_000, 6);
    const baselinePerSecond = goodPerSecond(load.samples, stoppedAt - BASELINE_SECONDS * 1_000, BASELINE_SECONDS);
    const baseline = median(baselinePerSecond);
    const goodAfterStop = load.samples.filter((s) => s.error === undefined && s.end >= stoppedAt && s.end < stoppedAt + 5_000).length;
    const slowAfterStop = load.samples.filter((s) => s.start >= stoppedAt && s.start < stoppedAt + 5_000 && s.end - s.start > SLOW_MS).length;
    summary(
      'SIGSTOP',
      w,
      `left registry after ${leftAt === undefined ? 'n/a (still there at SIGCONT)' : `${(leftAt - stoppedAt).toFixed(0)} ms`}; good/s in the ${BASELINE_SECONDS} s before: [${baselinePerSecond.join(', ')}] (median ${baseline}), from 1 s before: [${perSecond.join(', ')}]; other instance served ${otherServed} of ${goodAfterStop} good answers in the 5 s after the stop; ${slowAfterStop} calls sent after the stop took over ${SLOW_MS} ms`,
    );

    // Resumed, it registers again (its lease expired meanwhile) and serves again through the gateway.
    const resumedLoad = newLoad();
    resumedLoad.start();
    let servingAfterMs: number | undefined;
    try {
      const servedBefore = await servedGets(victim!.adminUrl);
      servingAfterMs = await pollUntil('the resumed instance serving goods.get through the gateway', RESUME_BOUND_MS, async () =>
        (await servedGets(victim!.adminUrl)) > servedBefore ? performance.now() - resumedAt : undefined,
      ).catch(() => undefined);
    } finally {
      await resumedLoad.stop();
    }
    const after = windowStats(resumedLoad.samples, 0, Infinity);
    summary('after SIGCONT', after, `the resumed instance served again: ${servingAfterMs === undefined ? `not within ${RESUME_BOUND_MS} ms` : `${servingAfterMs.toFixed(0)} ms after SIGCONT`}`);

    // Every figure is printed above; soft assertions report each requirement that is not met.
    // Traffic routed around it: the other instance answered (nearly) every good answer after the stop.
    expect.soft(otherServed, 'share of the other instance').toBeGreaterThanOrEqual(0.9 * goodAfterStop);
    // Routed around: of the calls sent after the stop, only the few that reached the stopped
    // instance before it was avoided wait long (the calls caught on it at the stop are not counted).
    expect.soft(slowAfterStop, `calls sent after the stop that took over ${SLOW_MS} ms`).toBeLessThanOrEqual(MAX_SLOW_AFTER_STOP);
    // No stall: from the third second after the stop, every second keeps answering. Not "half the
    // rate before": with one instance stopped on a machine loaded by other work, the one left
    // gets less CPU than two did, so the rate may halve and more without anything being stuck
    // (seen in CI at load 15: [458, 504, 782] good/s against a median of 1,739 before).
    expect.soft(Math.min(...perSecond.slice(3)), `good/s from 2 s after the stop vs. the median of the ${BASELINE_SECONDS} s before`).toBeGreaterThanOrEqual(STALL_FRACTION * baseline);
    expect.soft(w.requests, 'requests in the window').toBeGreaterThanOrEqual(MIN_REQUESTS);
    expect.soft(w.failureRate, 'failed share in the window').toBeLessThanOrEqual(MAX_FAILURE_RATE);
    // The calls in flight on the stopped instance must be saved by a retry elsewhere, not run out
    // the gateway's 5 s call timeout (a 504): that they are few makes the 0.1 % above a matter of
    // throughput, this makes it a matter of behaviour.
    expect.soft(w.errors['504 DEADLINE_EXCEEDED'] ?? 0, 'calls in flight at the stop that ran out their deadline').toBe(0);
    expect.soft(servingAfterMs, 'the resumed instance serves again').toBeDefined();
    expect.soft(after.failureRate, 'failed share after SIGCONT').toBeLessThanOrEqual(MAX_FAILURE_RATE);
  }, 90_000);
});
