// Crash and takeover: a driver abandoned mid-saga is finished by the holder of the recovery lock,
// a slow driver that lost its claim stops, and two recoverers never drive one saga at once.
import { afterEach, describe, expect, it } from 'vitest';
import { InProcessLock, orderSaga, signal, type FakeCaller } from './saga-fixtures.js';
import { SagaWorld } from './saga-harness.js';
import type { SagaResult } from '../../src/txn/types.js';

let world: SagaWorld;
afterEach(() => world?.close());

const LEASE = 60_000;

/** Starts a saga on a driver whose n-th call hangs forever, then abandons it (closes its database). */
async function crashMidSaga(gid: string, hangAt: number, qty: number, cents: number): Promise<FakeCaller> {
  const caller = world.caller((_r, i) => (i === hangAt ? 'hang' : 'none'), true);
  const { orch, db } = world.orchestrator(caller, { id: 'crashed' });
  void orch.run(orderSaga(gid, qty, cents)).catch(() => undefined);
  await caller.nextHang();
  db.close(); // the process is gone: its in-memory state and connection with it
  return caller;
}

describe('saga recovery', () => {
  it('a crashed forward saga is finished by the recovery lock holder; onFinished exactly once', async () => {
    world = new SagaWorld(10, 1_000);
    const crashed = await crashMidSaga('r1', 1, 2, 100); // hangs in step 2, after step 1 ran
    expect(world.stock.stock()).toBe(8);
    const done = signal<SagaResult>();
    const caller = world.caller();
    const { orch } = world.orchestrator(caller, {
      id: 'survivor',
      onFinished: (result, payload, trx) => {
        trx.prepare('INSERT INTO orders_done (gid, status) VALUES (?, ?)').run(result.gid, result.status);
        world.finished.push({ result, payload, by: 'survivor' });
        done.resolve(result);
      },
    });
    const lock = new InProcessLock();
    // Nothing to take over while the crashed owner's lease runs.
    expect(await orch.recoverOnce()).toEqual([]);
    world.clock.advance(LEASE + 1);
    const stop = orch.startRecovery({ lock: lock.acquire, scanIntervalMs: 1 });
    try {
      expect(await done.promise).toEqual({ gid: 'r1', status: 'committed' });
    } finally {
      await stop();
    }
    expect(lock.grants).toBe(1);
    // Resumed at step 2: step 1 was not sent again.
    expect(caller.calls.map((c) => c.action)).toEqual(['wallet.debit']);
    expect(world.finished).toHaveLength(1);
    expect(world.stock.stock()).toBe(8);
    expect(world.wallet.cents()).toBe(900);
    // The abandoned call arriving late changes nothing: the debit's barrier says duplicate.
    crashed.releaseHung();
    await Promise.resolve();
    expect(world.wallet.cents()).toBe(900);
  });

  it('a crash during compensation resumes compensating, in the recorded direction', async () => {
    world = new SagaWorld(10, 50);
    // Calls: reserve ok, debit fails (funds), refund hangs → crash while compensating.
    await crashMidSaga('r2', 2, 3, 100);
    world.clock.advance(LEASE + 1);
    const caller = world.caller();
    const { orch, db } = world.orchestrator(caller, { id: 'survivor' });
    const results = await orch.recoverOnce();
    expect(results).toMatchObject([{ gid: 'r2', status: 'aborted', failedStep: 'pay', error: { code: 'INSUFFICIENT_FUNDS' } }]);
    expect(caller.calls.map((c) => c.action)).toEqual(['wallet.refund', 'stock.release']);
    expect(world.stock.stock()).toBe(10);
    expect(world.wallet.cents()).toBe(50);
    expect(world.finished.map((f) => f.result.status)).toEqual(['aborted']);
    expect(world.sagaRow(db, 'r2')).toMatchObject({ status: 'aborted', owner: null });
  });

  it('a slow owner that lost its claim stops and reports the new owner\'s result', async () => {
    world = new SagaWorld(10, 1_000);
    const slowCaller = world.caller((_r, i) => (i === 0 ? 'hang' : 'none'));
    const slow = world.orchestrator(slowCaller, { id: 'slow' });
    const slowRun = slow.orch.run(orderSaga('r3', 1, 10));
    await slowCaller.nextHang();
    world.clock.advance(LEASE + 1); // slow is paused past its lease
    const fastCaller = world.caller();
    const fast = world.orchestrator(fastCaller, { id: 'fast' });
    expect(await fast.orch.recoverOnce()).toEqual([{ gid: 'r3', status: 'committed' }]);
    slowCaller.releaseHung();
    expect(await slowRun).toEqual({ gid: 'r3', status: 'committed' });
    // The slow owner's late reserve was a duplicate, and it went no further.
    expect(slowCaller.calls.map((c) => [c.action, c.outcome])).toEqual([['stock.reserve', 'ok']]);
    expect(fastCaller.calls.map((c) => c.action)).toEqual(['stock.reserve', 'wallet.debit']);
    expect(world.finished.map((f) => f.by)).toEqual([fast.orch.owner]);
    expect(world.stock.stock()).toBe(9);
    expect(world.wallet.cents()).toBe(990);
  });

  it('two recoverers over the same sagas never drive one saga at once, and finish each once', async () => {
    world = new SagaWorld(1_000, 100_000);
    const n = 8;
    // One crashed driver abandons n sagas at their first call.
    const hung = world.caller(() => 'hang', true);
    const crashed = world.orchestrator(hung, { id: 'crashed' });
    for (let i = 0; i < n; i++) void crashed.orch.run(orderSaga(`c${i}`, 1, 10 + i)).catch(() => undefined);
    while (hung.calls.length < n) await hung.nextHang().then(() => new Promise((r) => setImmediate(r)));
    crashed.db.close();
    world.clock.advance(LEASE + 1);
    // Different faults so the two drivers interleave at many points.
    const callerA = world.caller((_r, i) => (i % 3 === 1 ? 'lost-reply' : 'none'));
    const callerB = world.caller((_r, i) => (i % 4 === 2 ? 'lost-request' : 'none'));
    const a = world.orchestrator(callerA, { id: 'A' });
    const b = world.orchestrator(callerB, { id: 'B' });
    const [ra, rb] = await Promise.all([a.orch.recoverOnce(), b.orch.recoverOnce()]);
    expect(ra.length + rb.length).toBe(n);
    expect(new Set([...ra, ...rb].map((r) => r.gid)).size).toBe(n);
    expect([...ra, ...rb].every((r) => r.status === 'committed')).toBe(true);
    // Each saga was driven by exactly one of them, and its calls never overlapped.
    const gidsA = new Set(callerA.calls.map((c) => c.gid));
    const gidsB = new Set(callerB.calls.map((c) => c.gid));
    expect([...gidsA].filter((g) => gidsB.has(g))).toEqual([]);
    expect(gidsA.size + gidsB.size).toBe(n);
    expect(Math.max(callerA.maxConcurrentPerGid, callerB.maxConcurrentPerGid)).toBe(1);
    expect(world.finished).toHaveLength(n);
    expect(world.stock.stock()).toBe(1_000 - n);
  });

  it('a claim is taken only from an expired lease, even if the scan saw it expired a moment before', async () => {
    world = new SagaWorld(10, 1_000);
    await crashMidSaga('r4', 0, 1, 10);
    world.clock.advance(LEASE + 1);
    // B's scan sees r4 expired, but its claim waits behind its database queue...
    const gate = signal();
    const callerB = world.caller();
    const b = world.orchestrator(callerB, { id: 'B', exclusive: async (fn) => (await gate.promise, fn()) });
    const bPass = b.orch.recoverOnce();
    // ...while C claims r4 first and is mid-call.
    const callerC = world.caller((_r, i) => (i === 0 ? 'hang' : 'none'));
    const c = world.orchestrator(callerC, { id: 'C' });
    const cPass = c.orch.recoverOnce();
    await callerC.nextHang();
    gate.resolve();
    expect(await bPass).toEqual([]);
    expect(callerB.calls).toEqual([]);
    callerC.releaseHung();
    expect(await cPass).toEqual([{ gid: 'r4', status: 'committed' }]);
    expect(Math.max(callerB.maxConcurrentPerGid, callerC.maxConcurrentPerGid)).toBe(1);
    expect(world.finished.map((f) => f.by)).toEqual([c.orch.owner]);
    expect(world.stock.stock()).toBe(9);
  });

  it('only the lock holder scans; when it loses the lock the next instance takes over', async () => {
    world = new SagaWorld(100, 10_000);
    const lock = new InProcessLock();
    const done = new Map<string, ReturnType<typeof signal<string>>>();
    const waitFor = (gid: string) => {
      if (!done.has(gid)) done.set(gid, signal<string>());
      return done.get(gid)!.promise;
    };
    const recoverer = (id: string) =>
      world.orchestrator(world.caller(), {
        id,
        onFinished: (result) => {
          waitFor(result.gid);
          done.get(result.gid)!.resolve(id);
        },
      }).orch;
    const first = recoverer('first');
    const second = recoverer('second');
    const stopFirst = first.startRecovery({ lock: lock.acquire, scanIntervalMs: 1 });
    const stopSecond = second.startRecovery({ lock: lock.acquire, scanIntervalMs: 1 });
    try {
      await crashMidSaga('L1', 0, 1, 1);
      world.clock.advance(LEASE + 1);
      expect(await waitFor('L1')).toBe('first');
      lock.revoke();
      await crashMidSaga('L2', 0, 1, 1);
      world.clock.advance(LEASE + 1);
      expect(await waitFor('L2')).toBe('second');
      expect(lock.grants).toBeGreaterThanOrEqual(2);
    } finally {
      await Promise.all([stopFirst(), stopSecond()]);
    }
    expect(world.stock.stock()).toBe(98);
  });
});
