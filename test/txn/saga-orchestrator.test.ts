// The saga orchestrator against in-process participants behind the barrier: commits, business
// failures with compensation in reverse order, transient failures, stubborn compensations,
// duplicate deliveries, the same gid twice, and what it logs.
import { afterEach, describe, expect, it } from 'vitest';
import { ShoalError } from '../../src/errors/index.js';
import { SagaErrorCode } from '../../src/txn/index.js';
import { capturingLogger, orderSaga, type CallRecord, type Fault } from './saga-fixtures.js';
import { SagaWorld } from './saga-harness.js';

let world: SagaWorld;
afterEach(() => world?.close());

const actions = (calls: CallRecord[]) => calls.map((c) => c.action);

describe('SagaOrchestrator', () => {
  it('all steps succeed → committed, each effect once, onFinished once with the payload', async () => {
    world = new SagaWorld(10, 1_000);
    const caller = world.caller();
    const { orch, db } = world.orchestrator(caller);
    const result = await orch.run({ ...orderSaga('g1', 3, 250) });
    expect(result).toEqual({ gid: 'g1', status: 'committed' });
    expect(actions(caller.calls)).toEqual(['stock.reserve', 'wallet.debit']);
    expect(caller.calls.map((c) => c.branch)).toEqual(['reserve', 'pay']);
    expect(caller.options.every((o) => o.idempotent === true && typeof o.timeoutMs === 'number')).toBe(true);
    expect(world.stock.stock()).toBe(7);
    expect(world.wallet.cents()).toBe(750);
    expect(world.finished).toEqual([{ result, payload: { orderId: 'o-g1' }, by: orch.owner }]);
    expect(world.sagaRow(db, 'g1')).toMatchObject({ status: 'committed', next_step: 2, owner: null });
    expect(db.prepare('SELECT status FROM orders_done WHERE gid = ?').get('g1')).toEqual({ status: 'committed' });
  });

  it('step 2 business failure → steps 2 then 1 compensated, aborted with failedStep', async () => {
    world = new SagaWorld(10, 100);
    const caller = world.caller();
    const { orch, db } = world.orchestrator(caller);
    const result = await orch.run(orderSaga('g2', 3, 250));
    expect(result).toMatchObject({ gid: 'g2', status: 'aborted', failedStep: 'pay', error: { code: 'INSUFFICIENT_FUNDS' } });
    expect(actions(caller.calls)).toEqual(['stock.reserve', 'wallet.debit', 'wallet.refund', 'stock.release']);
    expect(world.stock.stock()).toBe(10);
    expect(world.wallet.cents()).toBe(100);
    expect(world.finished.map((f) => f.result)).toEqual([result]);
    expect(world.sagaRow(db, 'g2')).toMatchObject({ status: 'aborted', next_step: -1, failed_step: 'pay' });
  });

  it('step 1 business failure compensates step 1 only (a null compensation)', async () => {
    world = new SagaWorld(2, 1_000);
    const caller = world.caller();
    const { orch } = world.orchestrator(caller);
    const result = await orch.run(orderSaga('g3', 5, 10));
    expect(result).toMatchObject({ status: 'aborted', failedStep: 'reserve', error: { code: 'OUT_OF_STOCK' } });
    expect(actions(caller.calls)).toEqual(['stock.reserve', 'stock.release']);
    expect(world.stock.stock()).toBe(2);
  });

  it('transient failures retry the same branch; a lost reply does not apply twice', async () => {
    world = new SagaWorld(10, 1_000);
    const faults: Fault[] = ['lost-request', 'lost-reply', 'crash-unknown', 'none', 'timeout', 'none'];
    const caller = world.caller((_r, i) => faults[i] ?? 'none');
    const { orch } = world.orchestrator(caller);
    const result = await orch.run(orderSaga('g4', 1, 100));
    expect(result.status).toBe('committed');
    expect(actions(caller.calls)).toEqual(['stock.reserve', 'stock.reserve', 'stock.reserve', 'stock.reserve', 'wallet.debit', 'wallet.debit']);
    expect(world.stock.stock()).toBe(9);
    expect(world.wallet.cents()).toBe(900);
  });

  it('exhausted retries compensate, including the step whose outcome is unknown', async () => {
    world = new SagaWorld(10, 1_000);
    // Every debit is applied but its reply lost: the orchestrator cannot know it ran.
    const caller = world.caller((r) => (r.action === 'wallet.debit' ? 'lost-reply' : 'none'));
    const { orch } = world.orchestrator(caller, { actionAttempts: 3 });
    const result = await orch.run(orderSaga('g5', 2, 100));
    expect(result).toMatchObject({ status: 'aborted', failedStep: 'pay', error: { code: 'CONNECTION_LOST' } });
    expect(actions(caller.calls)).toEqual(['stock.reserve', 'wallet.debit', 'wallet.debit', 'wallet.debit', 'wallet.refund', 'stock.release']);
    expect(world.wallet.cents()).toBe(1_000);
    expect(world.stock.stock()).toBe(10);
  });

  it('a compensation failing several times is retried until it succeeds', async () => {
    world = new SagaWorld(10, 50);
    let refundFailures = 0;
    let releaseFailures = 0;
    const caller = world.caller((r) => {
      if (r.action === 'wallet.refund' && refundFailures < 4) return (refundFailures++ % 2 === 0 ? 'lost-request' : 'timeout');
      if (r.action === 'stock.release' && releaseFailures < 3) return (releaseFailures++, 'crash-unknown');
      return 'none';
    });
    const { orch } = world.orchestrator(caller, { actionAttempts: 1 });
    const result = await orch.run(orderSaga('g6', 4, 100));
    expect(result).toMatchObject({ status: 'aborted', failedStep: 'pay' });
    expect(caller.calls.filter((c) => c.action === 'wallet.refund')).toHaveLength(5);
    expect(caller.calls.filter((c) => c.action === 'stock.release')).toHaveLength(4);
    expect(world.stock.stock()).toBe(10);
    expect(world.wallet.cents()).toBe(50);
  });

  it('a participant that refuses a compensation definitively is still retried (and logged as an error)', async () => {
    world = new SagaWorld(10, 50);
    let refusals = 0;
    const { logger, lines } = capturingLogger();
    const caller = world.caller();
    const realRelease = caller['routes']['stock.release']!;
    caller['routes']['stock.release'] = (p) => {
      if (refusals++ < 2) throw new ShoalError({ code: 'SOMETHING_ODD', message: 'refused', retryable: false });
      return realRelease(p);
    };
    const { orch } = world.orchestrator(caller, { logger });
    const result = await orch.run(orderSaga('g6b', 4, 100));
    expect(result.status).toBe('aborted');
    expect(world.stock.stock()).toBe(10);
    expect(lines.filter((l) => l.includes('"level":50') && l.includes('SOMETHING_ODD'))).toHaveLength(2);
  });

  it('duplicate deliveries of actions and compensations apply once', async () => {
    world = new SagaWorld(10, 1_000);
    const caller = world.caller(() => 'duplicate');
    const { orch } = world.orchestrator(caller);
    expect((await orch.run(orderSaga('g7', 2, 300))).status).toBe('committed');
    expect(world.stock.stock()).toBe(8);
    expect(world.wallet.cents()).toBe(700);
    const r2 = await orch.run(orderSaga('g8', 2, 5_000));
    expect(r2.status).toBe('aborted');
    expect(world.stock.stock()).toBe(8);
    expect(world.wallet.cents()).toBe(700);
  });

  it('the same gid run twice (at once and later) executes once', async () => {
    world = new SagaWorld(10, 1_000);
    const caller = world.caller();
    const { orch } = world.orchestrator(caller);
    const spec = orderSaga('g9', 1, 10);
    const [a, b] = await Promise.all([orch.run(spec), orch.run(structuredClone(spec))]);
    expect(a).toEqual({ gid: 'g9', status: 'committed' });
    expect(b).toEqual(a);
    expect(await orch.run(spec)).toEqual(a);
    // A second orchestrator (another instance on the same database) sees the stored result.
    const other = world.orchestrator(world.caller());
    expect(await other.orch.run(spec)).toEqual(a);
    expect(caller.calls).toHaveLength(2);
    expect(world.finished).toHaveLength(1);
    expect(world.stock.stock()).toBe(9);
  });

  it('a gid reused for another saga is refused', async () => {
    world = new SagaWorld(10, 1_000);
    const { orch } = world.orchestrator(world.caller());
    await orch.run(orderSaga('g10', 1, 10));
    await expect(orch.run(orderSaga('g10', 2, 10))).rejects.toMatchObject({ code: SagaErrorCode.SAGA_CONFLICT });
    await expect(orch.run({ ...orderSaga('g11', 1, 1), gid: 'not a gid' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('an onFinished that throws rolls the terminal write back; the saga is finished again later, once', async () => {
    world = new SagaWorld(10, 1_000);
    let failOnce = true;
    const seen: string[] = [];
    const { orch, db } = world.orchestrator(world.caller(), {
      leaseMs: 1_000,
      onFinished: (result, _payload, trx) => {
        trx.prepare('INSERT INTO orders_done (gid, status) VALUES (?, ?)').run(result.gid, result.status);
        if (failOnce) {
          failOnce = false;
          throw new Error('handler bug');
        }
        seen.push(result.status);
      },
    });
    await expect(orch.run(orderSaga('g12', 1, 10))).rejects.toThrow('handler bug');
    // The last step's advance is the terminal write itself, so the log still points at that step:
    // recovery repeats its call, which the participant's barrier answers as a duplicate.
    expect(world.sagaRow(db, 'g12')).toMatchObject({ status: 'running', next_step: 1 });
    expect(db.prepare('SELECT count(*) AS n FROM orders_done WHERE gid = ?').get('g12')).toEqual({ n: 0 });
    expect(await orch.recoverOnce()).toEqual([]); // its lease still runs
    world.clock.advance(1_001);
    expect(await orch.recoverOnce()).toEqual([{ gid: 'g12', status: 'committed' }]);
    expect(seen).toEqual(['committed']);
    expect(db.prepare('SELECT count(*) AS n FROM orders_done WHERE gid = ?').get('g12')).toEqual({ n: 1 });
    expect(world.stock.stock()).toBe(9);
  });

  it('refuses to write its log inside another open transaction on the same connection', async () => {
    world = new SagaWorld(10, 1_000);
    const { orch, db } = world.orchestrator(world.caller());
    db.exec('BEGIN');
    try {
      await expect(orch.run(orderSaga('g15', 1, 10))).rejects.toThrow(/options\.exclusive/);
    } finally {
      db.exec('ROLLBACK');
    }
    expect(world.sagaRow(db, 'g15')).toBeUndefined();
  });

  it('logs each transition with gid and step but never the params', async () => {
    world = new SagaWorld(10, 100);
    const { logger, lines } = capturingLogger();
    const caller = world.caller((_r, i) => (i === 0 ? 'lost-request' : 'none'));
    const { orch } = world.orchestrator(caller, { logger });
    await orch.run(orderSaga('g13', 1, 500, { cardToken: 'tok_SECRET_4242' }));
    const text = lines.join('\n');
    expect(text).not.toContain('tok_SECRET_4242');
    const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.some((e) => e['gid'] === 'g13' && e['step'] === 'reserve' && e['outcome'] === 'transient')).toBe(true);
    expect(events.some((e) => e['gid'] === 'g13' && e['step'] === 'pay' && e['outcome'] === 'failed' && e['code'] === 'INSUFFICIENT_FUNDS')).toBe(true);
    expect(events.some((e) => e['gid'] === 'g13' && e['step'] === 'reserve' && e['op'] === 'compensate' && e['outcome'] === 'ok')).toBe(true);
    expect(events.some((e) => e['gid'] === 'g13' && e['msg'] === 'saga finished' && e['outcome'] === 'aborted')).toBe(true);
  });

  it('close() stops a saga at its next boundary and gives its claim up for another instance', async () => {
    world = new SagaWorld(10, 1_000);
    const caller = world.caller((_r, i) => (i === 0 ? 'hang' : 'none'));
    const { orch, db } = world.orchestrator(caller);
    const running = orch.run(orderSaga('g14', 1, 10));
    await caller.nextHang();
    orch.close();
    caller.releaseHung();
    await expect(running).rejects.toMatchObject({ code: SagaErrorCode.SAGA_ORCHESTRATOR_CLOSED });
    // Step 1 was recorded, the claim released (lease 0): another instance resumes without waiting.
    expect(db.prepare('SELECT next_step, lease_until FROM shoal_saga WHERE gid = ?').get('g14')).toEqual({ next_step: 1, lease_until: 0 });
    const next = world.orchestrator(world.caller(), { id: 'orders-2' });
    expect(await next.orch.recoverOnce()).toEqual([{ gid: 'g14', status: 'committed' }]);
    expect(world.stock.stock()).toBe(9);
    expect(world.wallet.cents()).toBe(990);
  });

  it('record() writes the saga in the caller\'s transaction: rolled back with it, or driven by the next run()', async () => {
    world = new SagaWorld(10, 1_000);
    const caller = world.caller();
    const { orch, db } = world.orchestrator(caller);
    expect(() => orch.record(orderSaga('g16', 1, 10))).toThrow(/inside an open transaction/);
    // The caller's transaction fails after recording: no saga remains.
    expect(() =>
      db.transaction(() => {
        expect(orch.record(orderSaga('g16', 1, 10))).toBe(true);
        throw new Error('order insert failed');
      })(),
    ).toThrow('order insert failed');
    expect(world.sagaRow(db, 'g16')).toBeUndefined();
    // It commits: the row is claimed by this orchestrator, and run() drives it at once (no waiting for the lease).
    db.transaction(() => orch.record(orderSaga('g16', 1, 10)))();
    expect(world.sagaRow(db, 'g16')).toMatchObject({ status: 'running', next_step: 0, owner: orch.owner });
    const [a, b] = await Promise.all([orch.run(orderSaga('g16', 1, 10)), orch.run(orderSaga('g16', 1, 10))]);
    expect(a).toEqual({ gid: 'g16', status: 'committed' });
    expect(b).toEqual(a);
    expect(actions(caller.calls)).toEqual(['stock.reserve', 'wallet.debit']);
    expect(world.stock.stock()).toBe(9);
  });
});
