// Two-phase commit against a real `shoal coord`, with two SQLite participants (stock and wallet)
// reached through a test double Caller: commit, refusal, duplicate deliveries, coordinator crashes
// before and after the decision, and a recoverer's presumed abort racing a slow coordinator.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCoordClient, firstEvent } from '../../src/recipes/index.js';
import {
  InDoubtResolver,
  ownerKey,
  presumeAbort,
  readDecision,
  TwoPhaseCoordinator,
  type TwoPcHooks,
} from '../../src/txn/twopc/index.js';
import type { TwoPcSpec } from '../../src/txn/types.js';
import { freePort, LOOPBACK } from '../support/ports.js';
import { spawnCoord, type CoordChild } from '../support/shoal-coord.js';
import { FakeParticipant, RoutingCaller } from './twopc-fixtures.js';

const logger = pino({ level: process.env['TWOPC_LOG'] ?? 'silent' });
let coordProc: CoordChild;
let dir: string;
let client: Etcd3;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'shoal-twopc-'));
  const endpoint = `http://${LOOPBACK}:${await freePort()}`;
  const logs: string[] = [];
  coordProc = spawnCoord(['--name', 'n1', '--data-dir', path.join(dir, 'coord'), '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint], logs, 'coord', 30_000);
  await coordProc.ready;
  client = createCoordClient([endpoint]);
});

afterAll(async () => {
  client?.close();
  if (coordProc !== undefined && coordProc.child.exitCode === null) {
    coordProc.child.kill('SIGTERM');
    await coordProc.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

let stock: FakeParticipant;
let wallet: FakeParticipant;
let caller: RoutingCaller;
const coordinators: TwoPhaseCoordinator[] = [];
let gidCounter = 0;

beforeEach(() => {
  stock = new FakeParticipant('stock', 'OUT_OF_STOCK', { 'sku-1': 10 });
  wallet = new FakeParticipant('wallet', 'INSUFFICIENT_FUNDS', { alice: 1000 });
  caller = new RoutingCaller({ stock, wallet });
});

afterEach(async () => {
  for (const c of coordinators.splice(0)) await c.close().catch(() => undefined);
  stock.close();
  wallet.close();
});

function coordinator(hooks?: TwoPcHooks, instanceId = 'orders-1'): TwoPhaseCoordinator {
  const c = new TwoPhaseCoordinator({ caller, coord: client, instanceId, logger, leaseTtlSeconds: 1, phaseTimeoutMs: 3000, backoff: { initialMs: 5, maxMs: 50 }, ...(hooks ? { hooks } : {}) });
  coordinators.push(c);
  return c;
}

function order(qty: number, cents: number): TwoPcSpec {
  const gid = `g-${process.pid}-${Date.now()}-${++gidCounter}`;
  return {
    gid,
    kind: 'order.place',
    branches: [
      { name: 'stock', prepare: 'stock.prepare', commit: 'stock.commit', abort: 'stock.abort', params: { key: 'sku-1', amount: qty } },
      { name: 'wallet', prepare: 'wallet.prepare', commit: 'wallet.commit', abort: 'wallet.abort', params: { key: 'alice', amount: cents } },
    ],
  };
}

function resolvers(id = 'recoverer-1'): InDoubtResolver[] {
  return [stock, wallet].map((p) => new InDoubtResolver({ coord: client, db: p.db, instanceId: id, logger, olderThanMs: 0, onCommit: p.onCommit, onAbort: p.onAbort }));
}

/** Resolves once the owner key of gid is gone (its lease expired or was revoked). */
async function ownerGone(gid: string): Promise<void> {
  const key = ownerKey(gid);
  const res = await client.kv.range({ key: Buffer.from(key) });
  if (res.kvs.length === 0) return;
  await firstEvent(client, { key, startRevision: BigInt(res.header.revision) + 1n, only: 'delete' }, AbortSignal.timeout(15_000));
}

function expectCommitted(qty: number, cents: number): void {
  expect(stock.pool('sku-1')).toEqual({ available: 10 - qty, held: 0, done: qty });
  expect(wallet.pool('alice')).toEqual({ available: 1000 - cents, held: 0, done: cents });
  expect(stock.applied).toEqual({ commit: 1, abort: 0 });
  expect(wallet.applied).toEqual({ commit: 1, abort: 0 });
}

function expectNothingApplied(): void {
  expect(stock.pool('sku-1')).toEqual({ available: 10, held: 0, done: 0 });
  expect(wallet.pool('alice')).toEqual({ available: 1000, held: 0, done: 0 });
  expect(stock.applied.commit + wallet.applied.commit).toBe(0);
}

describe('TwoPhaseCoordinator on a real coordinator', () => {
  it('all branches prepare → committed, effects applied once, decision stored, owner key removed', async () => {
    const spec = order(3, 250);
    const result = await coordinator().run(spec);
    expect(result).toEqual({ gid: spec.gid, status: 'committed' });
    expectCommitted(3, 250);
    expect(stock.states()).toEqual(['committed']);
    const decision = await readDecision(client, spec.gid);
    expect(decision).toMatchObject({ gid: spec.gid, decision: 'commit', by: 'orders-1' });
    expect((await client.kv.range({ key: Buffer.from(ownerKey(spec.gid)) })).kvs).toHaveLength(0);
    expect(caller.deliveries.filter((d) => d.endsWith('.prepare'))).toHaveLength(2);
  });

  it('one branch refuses → aborted with its error, nothing applied, reservations released', async () => {
    const spec = order(3, 5000); // alice has 1000
    const result = await coordinator().run(spec);
    expect(result).toMatchObject({ gid: spec.gid, status: 'aborted', failedBranch: 'wallet', error: { code: 'INSUFFICIENT_FUNDS' } });
    expectNothingApplied();
    // Stock had prepared and was released; the wallet never prepared (its refusal rolled back).
    expect(stock.applied.abort).toBe(1);
    expect(wallet.states()).toEqual([]);
    expect((await readDecision(client, spec.gid))?.decision).toBe('abort');
    // A prepare delivered late (after the abort) is refused and holds nothing.
    expect(() => wallet.prepare({ gid: spec.gid, branch: 'wallet', key: 'alice', amount: 1 })).toThrow(/aborted before its prepare/);
    expect(wallet.pool('alice').held).toBe(0);
  });

  it('duplicate and lost-answer deliveries of prepare, commit and abort apply effects once', async () => {
    // Each first delivery runs and then loses its answer; each second is delivered twice.
    caller.fault = (_action, attempt) => (attempt === 1 ? 'lost-after' : attempt === 2 ? 'twice' : 'none');
    const spec = order(2, 100);
    expect(await coordinator().run(spec)).toEqual({ gid: spec.gid, status: 'committed' });
    expectCommitted(2, 100);
    expect(caller.deliveries.filter((d) => d === 'stock.prepare').length).toBe(3);
    expect(caller.deliveries.filter((d) => d === 'stock.commit').length).toBe(3);

    const refused = order(20, 100); // only 10 in stock
    expect(await coordinator().run(refused)).toMatchObject({ status: 'aborted', failedBranch: 'stock' });
    expect(caller.deliveries.filter((d) => d === 'wallet.abort').length).toBe(3);
    expect(wallet.applied.abort).toBe(1);
    expect(wallet.pool('alice')).toEqual({ available: 900, held: 0, done: 100 });
  });

  it('transient prepare failures are retried within the phase; a branch out of time aborts', async () => {
    caller.fault = (action, attempt) => (action === 'stock.prepare' && attempt <= 3 ? 'unavailable-before' : 'none');
    const spec = order(1, 10);
    expect(await coordinator().run(spec)).toEqual({ gid: spec.gid, status: 'committed' });
    expectCommitted(1, 10);

    caller.fault = (action) => (action === 'wallet.prepare' ? 'unavailable-before' : 'none');
    const slow = new TwoPhaseCoordinator({ caller, coord: client, instanceId: 'orders-2', logger, leaseTtlSeconds: 1, phaseTimeoutMs: 200, backoff: { initialMs: 5, maxMs: 20 } });
    coordinators.push(slow);
    const timedOut = order(1, 10);
    const result = await slow.run(timedOut);
    expect(result).toMatchObject({ status: 'aborted', failedBranch: 'wallet', error: { code: 'UNAVAILABLE' } });
    expect(stock.pool('sku-1')).toEqual({ available: 9, held: 0, done: 1 });
  });

  it('coordinator crash after prepare, before the decision → the resolver presumes abort once the owner lease expires', async () => {
    const crashed: TwoPhaseCoordinator = coordinator({ beforeDecision: () => crashed.abandon() });
    const spec = order(4, 300);
    await expect(crashed.run(spec)).rejects.toThrow(/abandoned/);
    expect(stock.pool('sku-1').held).toBe(4);
    expect(wallet.pool('alice').held).toBe(300);

    const [rs, rw] = resolvers();
    // The owner key still exists until the lease expires: the resolver must wait, not presume.
    expect(await rs!.resolveOnce()).toEqual({ committed: 0, aborted: 0, waiting: 1, failed: 0 });
    expect(await readDecision(client, spec.gid)).toBeUndefined();
    await ownerGone(spec.gid);
    expect(await rs!.resolveOnce()).toMatchObject({ aborted: 1, failed: 0 });
    expect(await rw!.resolveOnce()).toMatchObject({ aborted: 1, failed: 0 });
    expect(await readDecision(client, spec.gid)).toMatchObject({ decision: 'abort', by: 'recoverer-1' });
    expectNothingApplied();
    expect(stock.applied.abort + wallet.applied.abort).toBe(2);
    // A second pass finds nothing in doubt.
    expect(await rs!.resolveOnce()).toEqual({ committed: 0, aborted: 0, waiting: 0, failed: 0 });
  });

  it('a run that fails before deciding stores abort itself and gives its owner key up: nobody waits for its live lease', async () => {
    const c = coordinator({ beforeDecision: () => { throw new Error('hook failed (test)'); } });
    const spec = order(2, 20);
    await expect(c.run(spec)).rejects.toThrow(/hook failed/);
    expect(await readDecision(client, spec.gid)).toMatchObject({ decision: 'abort', by: 'orders-1' });
    expect((await client.kv.range({ key: Buffer.from(ownerKey(spec.gid)) })).kvs).toHaveLength(0);
    for (const r of resolvers()) expect(await r.resolveOnce()).toEqual({ committed: 0, aborted: 1, waiting: 0, failed: 0 });
    expectNothingApplied();
  });

  it('settling an undecided run goes on in the background while the coordinator store refuses writes', async () => {
    let down = false;
    const kv = client.kv;
    const flakyKv = new Proxy(kv, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        if (prop === 'txn') return (...args: unknown[]) => (down ? Promise.reject(new Error('store unreachable (test)')) : (value as (...a: unknown[]) => unknown).apply(target, args));
        return (value as (...a: unknown[]) => unknown).bind(target);
      },
    });
    const flaky = new Proxy(client, { get: (target, prop, receiver) => (prop === 'kv' ? flakyKv : Reflect.get(target, prop, receiver) as unknown) });
    const c = new TwoPhaseCoordinator({
      caller, coord: flaky, instanceId: 'orders-flaky', logger, leaseTtlSeconds: 1, phaseTimeoutMs: 3000, backoff: { initialMs: 5, maxMs: 50 },
      hooks: { beforeDecision: () => { down = true; throw new Error('hook failed (test)'); } },
    });
    coordinators.push(c);
    const spec = order(3, 30);
    await expect(c.run(spec)).rejects.toThrow(/hook failed/);
    // Nothing stored yet, and the owner key lives on under the instance's live lease: a resolver waits.
    const [rs, rw] = resolvers();
    expect(await rs!.resolveOnce()).toEqual({ committed: 0, aborted: 0, waiting: 1, failed: 0 });
    expect(await readDecision(client, spec.gid)).toBeUndefined();
    const owner = await client.kv.range({ key: Buffer.from(ownerKey(spec.gid)) });
    expect(owner.kvs).toHaveLength(1);
    down = false;
    await firstEvent(client, { key: ownerKey(spec.gid), startRevision: BigInt(owner.header.revision) + 1n, only: 'delete' }, AbortSignal.timeout(15_000));
    expect(await readDecision(client, spec.gid)).toMatchObject({ decision: 'abort', by: 'orders-flaky' });
    expect(await rs!.resolveOnce()).toMatchObject({ aborted: 1, waiting: 0, failed: 0 });
    expect(await rw!.resolveOnce()).toMatchObject({ aborted: 1, waiting: 0, failed: 0 });
    expectNothingApplied();
  });

  it('coordinator crash after the decision, before phase two → the resolver commits', async () => {
    const crashed: TwoPhaseCoordinator = coordinator({ beforePhaseTwo: () => crashed.abandon() });
    const spec = order(5, 400);
    await expect(crashed.run(spec)).rejects.toThrow(/abandoned/);
    expect(stock.pool('sku-1')).toEqual({ available: 5, held: 5, done: 0 });
    for (const r of resolvers('recoverer-2')) expect(await r.resolveOnce()).toMatchObject({ committed: 1, failed: 0 });
    expectCommitted(5, 400);
    expect(await readDecision(client, spec.gid)).toMatchObject({ decision: 'commit', by: 'orders-1' });
    // A rerun of the same gid (e.g. by the recovering orders service) obeys the stored decision.
    expect(await coordinator(undefined, 'orders-3').run(spec)).toEqual({ gid: spec.gid, status: 'committed' });
    expectCommitted(5, 400);
  });

  it('a recoverer presuming abort while a slow coordinator decides commit: the recoverer wins and the coordinator aborts', async () => {
    const [rs] = resolvers('recoverer-3');
    const slow: TwoPhaseCoordinator = coordinator({
      beforeDecision: async (gid) => {
        // The coordinator stalls past its lease (as in a long GC pause): the lease goes away.
        const owner = (await client.kv.range({ key: Buffer.from(ownerKey(gid)) })).kvs[0]!;
        await client.leaseClient.leaseRevoke({ ID: owner.lease });
        await ownerGone(gid);
        expect(await rs!.resolveOnce()).toMatchObject({ aborted: 1 });
      },
    });
    const spec = order(2, 50);
    const result = await slow.run(spec);
    expect(result).toMatchObject({ gid: spec.gid, status: 'aborted', error: { code: 'TXN_PRESUMED_ABORT' } });
    expect(await readDecision(client, spec.gid)).toMatchObject({ decision: 'abort', by: 'recoverer-3' });
    expectNothingApplied();
    expect(stock.applied.abort).toBe(1);
    expect(wallet.applied.abort).toBe(1);
  });

  it('racing decision writers: exactly one decision wins and everyone obeys it (seeded)', async () => {
    const seed = Number(process.env['TWOPC_SEED'] ?? Date.now() % 1_000_000);
    console.log(`twopc race seed=${seed} (rerun with TWOPC_SEED=${seed})`);
    let state = seed >>> 0 || 1;
    const random = (): number => {
      state ^= state << 13; state ^= state >>> 17; state ^= state << 5; state >>>= 0;
      return state / 2 ** 32;
    };
    const outcomes = { commit: 0, abort: 0 };
    for (let round = 0; round < 6; round++) {
      let presumed: Promise<unknown> | undefined;
      const c = coordinator({
        beforeDecision: (gid) => {
          // Recoverer and coordinator write their decisions concurrently, in a random order.
          const delay = Math.floor(random() * 4);
          presumed = new Promise((resolve) => setTimeout(resolve, delay)).then(() => presumeAbort(client, gid, 'racer'));
          return new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 4)));
        },
      }, `orders-race-${round}`);
      const before = { stock: stock.pool('sku-1'), wallet: wallet.pool('alice') };
      const spec = order(1, 10);
      const result = await c.run(spec);
      const stored = (await readDecision(client, spec.gid))!;
      expect(await presumed).toEqual(stored);
      expect(result.status).toBe(stored.decision === 'commit' ? 'committed' : 'aborted');
      outcomes[stored.decision]++;
      const delta = stored.decision === 'commit' ? 1 : 0;
      expect(stock.pool('sku-1')).toEqual({ available: before.stock.available - delta, held: 0, done: before.stock.done + delta });
      expect(wallet.pool('alice')).toEqual({ available: before.wallet.available - 10 * delta, held: 0, done: before.wallet.done + 10 * delta });
    }
    console.log(`twopc race seed=${seed}: ${JSON.stringify(outcomes)}`);
    expect(stock.applied.commit).toBe(outcomes.commit);
    expect(stock.applied.abort).toBe(outcomes.abort);
  });

  it('presumeAbort never overwrites: it returns a stored commit', async () => {
    const spec = order(1, 1);
    await coordinator().run(spec);
    expect(await presumeAbort(client, spec.gid, 'late-recoverer')).toMatchObject({ decision: 'commit', by: 'orders-1' });
    expect(await coordinator().decisionOf(spec.gid)).toMatchObject({ decision: 'commit' });
  });
});
