// The PostgreSQL participant against a real PostgreSQL started by the test: PREPARE TRANSACTION,
// COMMIT/ROLLBACK PREPARED and their idempotency, barrierPg's anomalies, and crashes — the
// coordinator side killed between prepare and commit, and PostgreSQL itself SIGKILLed and
// restarted — after which the prepared transaction is still there and the resolver finishes it
// by the decision in a real `shoal coord`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShoalError } from '../../src/errors/index.js';
import { createCoordClient, firstEvent } from '../../src/recipes/index.js';
import type { Caller } from '../../src/runtime/types.js';
import {
  barrierPg,
  ownerKey,
  PgInDoubtResolver,
  PgTwoPcParticipant,
  pgXid,
  readDecision,
  TwoPhaseCoordinator,
  type TwoPcHooks,
} from '../../src/txn/twopc/index.js';
import type { BranchParams, TwoPcSpec } from '../../src/txn/types.js';
import { PgServer, postgresUnavailable } from '../support/postgres.js';
import { freePort, LOOPBACK } from '../support/ports.js';
import { spawnCoord, type CoordChild } from '../support/shoal-coord.js';

const unavailable = postgresUnavailable();
if (unavailable !== undefined) console.warn(`skipping PostgreSQL 2PC tests: ${unavailable}`);
const logger = pino({ level: process.env['TWOPC_LOG'] ?? 'silent' });

describe.skipIf(unavailable !== undefined)('PostgreSQL 2PC participant', () => {
  let server: PgServer;
  let pool: pg.Pool;
  let participant: PgTwoPcParticipant;
  let coordProc: CoordChild;
  let dir: string;
  let client: Etcd3;
  let n = 0;

  function newPool(): pg.Pool {
    const p = new pg.Pool({ ...server.connection, max: 6 });
    // Idle clients see the server die in the crash tests; that is expected, not fatal.
    p.on('error', () => undefined);
    return p;
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'shoal-pg-twopc-'));
    const endpoint = `http://${LOOPBACK}:${await freePort()}`;
    coordProc = spawnCoord(['--name', 'n1', '--data-dir', path.join(dir, 'coord'), '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint], [], 'coord', 30_000);
    [server] = await Promise.all([PgServer.start(), coordProc.ready]);
    client = createCoordClient([endpoint]);
    pool = newPool();
    participant = new PgTwoPcParticipant({ pool, lockTimeoutMs: 300 });
    await participant.migrate();
    await pool.query('CREATE TABLE stock (sku text PRIMARY KEY, available int NOT NULL CHECK (available >= 0), sold int NOT NULL)');
    // Branches of one transaction touch different rows: a prepared transaction keeps its row locks.
    await pool.query("INSERT INTO stock VALUES ('sku-1', 100, 0), ('a', 100, 0), ('b', 100, 0)");
  });

  afterAll(async () => {
    await pool?.end().catch(() => undefined);
    client?.close();
    await server?.stop();
    if (coordProc !== undefined && coordProc.child.exitCode === null) {
      coordProc.child.kill('SIGTERM');
      await coordProc.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  function ids(branch = 'stock'): BranchParams {
    return { gid: `pg-${process.pid}-${++n}`, branch };
  }

  const sell = (qty: number, sku = 'sku-1') => async (c: pg.PoolClient): Promise<void> => {
    const res = await c.query('UPDATE stock SET available = available - $1, sold = sold + $1 WHERE sku = $2 AND available >= $1', [qty, sku]);
    if (res.rowCount !== 1) throw new ShoalError({ code: 'OUT_OF_STOCK', message: 'not enough', retryable: false });
  };

  async function stockRow(sku = 'sku-1'): Promise<{ available: number; sold: number }> {
    return (await pool.query<{ available: number; sold: number }>('SELECT available, sold FROM stock WHERE sku = $1', [sku])).rows[0]!;
  }

  /** Both coordinator-test rows, summed. */
  async function abRows(): Promise<{ available: number; sold: number }> {
    const [a, b] = [await stockRow('a'), await stockRow('b')];
    return { available: a.available + b.available, sold: a.sold + b.sold };
  }

  async function prepared(): Promise<string[]> {
    return (await participant.inDoubt()).map((b) => `${b.gid}/${b.branch}`);
  }

  it('prepare is durable but invisible; commit makes it visible; repeats are duplicates', async () => {
    const p = ids();
    const before = await stockRow();
    expect(await participant.prepare(p, sell(3))).toBe('proceed');
    expect(await stockRow()).toEqual(before);
    expect(await prepared()).toContain(`${p.gid}/${p.branch}`);
    expect(await participant.prepare(p, sell(3))).toBe('duplicate');
    expect(await participant.commit(p)).toBe('committed');
    expect(await stockRow()).toEqual({ available: before.available - 3, sold: before.sold + 3 });
    expect(await participant.commit(p)).toBe('duplicate');
    expect(await participant.prepare(p, sell(3))).toBe('duplicate');
    await expect(participant.abort(p)).rejects.toThrow(/committed/);
    expect(await stockRow()).toEqual({ available: before.available - 3, sold: before.sold + 3 });
    expect(await prepared()).not.toContain(`${p.gid}/${p.branch}`);
  });

  it('abort rolls the prepared work back, is idempotent, and refuses a late prepare', async () => {
    const p = ids();
    const before = await stockRow();
    expect(await participant.prepare(p, sell(5))).toBe('proceed');
    expect(await participant.abort(p)).toBe('rolled-back');
    expect(await participant.abort(p)).toBe('duplicate');
    expect(await participant.prepare(p, sell(5))).toBe('aborted-before');
    await expect(participant.commit(p)).rejects.toThrow(/aborted/);
    expect(await stockRow()).toEqual(before);
  });

  it('abort before prepare records a barrier: the late prepare never runs its work', async () => {
    const p = ids();
    expect(await participant.abort(p)).toBe('never-prepared');
    let ran = false;
    expect(await participant.prepare(p, async () => { ran = true; })).toBe('aborted-before');
    expect(ran).toBe(false);
    await expect(participant.commit(ids())).rejects.toMatchObject({ code: 'NOT_PREPARED' });
  });

  it('a refusal inside the work rolls back and prepares nothing', async () => {
    const p = ids();
    await expect(participant.prepare(p, sell(1_000_000))).rejects.toMatchObject({ code: 'OUT_OF_STOCK' });
    expect(await prepared()).not.toContain(`${p.gid}/${p.branch}`);
    expect(await participant.abort(p)).toBe('never-prepared');
  });

  it('long gids get a hashed, deterministic xid that inDoubt maps back', async () => {
    const p = { gid: 'g'.repeat(128), branch: `b${n}`.padEnd(128, 'x') };
    expect(pgXid(p)).toMatch(/^shoal:#[0-9a-f]{64}$/);
    expect(pgXid(p)).toBe(pgXid({ ...p }));
    expect(await participant.prepare(p, sell(1))).toBe('proceed');
    expect((await participant.inDoubt()).find((b) => b.xid === pgXid(p))).toMatchObject(p);
    expect(await participant.abort(p)).toBe('rolled-back');
  });

  it('barrierPg: duplicate action, null compensation, hanging action, duplicate compensation, concurrent duplicates', async () => {
    const run = async (p: BranchParams, op: 'action' | 'compensate'): Promise<string> => {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const outcome = await barrierPg(c, { ...p, op });
        await c.query('COMMIT');
        return outcome;
      } finally {
        c.release();
      }
    };
    const a = ids('step');
    expect(await run(a, 'action')).toBe('proceed');
    expect(await run(a, 'action')).toBe('duplicate');
    expect(await run(a, 'compensate')).toBe('proceed');
    expect(await run(a, 'compensate')).toBe('duplicate');
    expect(await run(a, 'action')).toBe('hanging');
    const b = ids('step');
    expect(await run(b, 'compensate')).toBe('null-compensation');
    expect(await run(b, 'action')).toBe('hanging');
    // Two concurrent deliveries of one action: the second waits on the first's row, then is a duplicate.
    const c = ids('step');
    const [c1, c2] = await Promise.all([pool.connect(), pool.connect()]);
    try {
      await c1.query('BEGIN');
      await c2.query('BEGIN');
      expect(await barrierPg(c1, { ...c, op: 'action' })).toBe('proceed');
      const second = barrierPg(c2, { ...c, op: 'action' });
      await c1.query('COMMIT');
      expect(await second).toBe('duplicate');
      await c2.query('COMMIT');
    } finally {
      c1.release();
      c2.release();
    }
    // A rolled-back action leaves no row: its compensation is then a null compensation.
    const d = ids('step');
    const c3 = await pool.connect();
    try {
      await c3.query('BEGIN');
      expect(await barrierPg(c3, { ...d, op: 'action' })).toBe('proceed');
      await c3.query('ROLLBACK');
    } finally {
      c3.release();
    }
    expect(await run(d, 'compensate')).toBe('null-compensation');
  });

  /** A Caller routing `stock.*` to the participant (two branches on the same database). */
  const caller: Caller = {
    async call<T>(action: string, params?: unknown): Promise<T> {
      const p = params as BranchParams & { qty: number };
      const ids = { gid: p.gid, branch: p.branch };
      if (action === 'stock.prepare') {
        const outcome = await participant.prepare(ids, sell(p.qty, p.branch));
        if (outcome === 'aborted-before') throw new ShoalError({ code: 'BRANCH_COMPENSATED', message: 'aborted', retryable: false });
      } else if (action === 'stock.commit') {
        await participant.commit(ids);
      } else if (action === 'stock.abort') {
        await participant.abort(ids);
      } else {
        throw new ShoalError({ code: 'ACTION_NOT_FOUND', message: action, retryable: false });
      }
      return { ok: true } as T;
    },
  };

  function spec(qty: number): TwoPcSpec {
    const gid = `pgc-${process.pid}-${++n}`;
    const branch = (name: string) => ({ name, prepare: 'stock.prepare', commit: 'stock.commit', abort: 'stock.abort', params: { qty } });
    return { gid, kind: 'test', branches: [branch('a'), branch('b')] };
  }

  async function crashAndRestartPostgres(): Promise<void> {
    await pool.end().catch(() => undefined);
    await server.kill();
    await server.restart();
    pool = newPool();
    participant = new PgTwoPcParticipant({ pool, lockTimeoutMs: 300 });
  }

  function resolver(): PgInDoubtResolver {
    return new PgInDoubtResolver({ coord: client, participant, instanceId: 'pg-recoverer', logger, olderThanMs: 0 });
  }

  async function crashingRun(s: TwoPcSpec, at: keyof TwoPcHooks): Promise<void> {
    const c: TwoPhaseCoordinator = new TwoPhaseCoordinator({ caller, coord: client, instanceId: 'orders-pg', logger, leaseTtlSeconds: 1, hooks: { [at]: () => c.abandon() } });
    await expect(c.run(s)).rejects.toThrow(/abandoned/);
  }

  it('crash after the decision, then PostgreSQL SIGKILLed and restarted: the prepared xacts survive and the resolver commits them', async () => {
    const before = await abRows();
    const s = spec(2);
    await crashingRun(s, 'beforePhaseTwo');
    expect((await readDecision(client, s.gid))?.decision).toBe('commit');
    await crashAndRestartPostgres();
    expect(await prepared()).toEqual(expect.arrayContaining([`${s.gid}/a`, `${s.gid}/b`]));
    expect(await abRows()).toEqual(before);
    expect(await resolver().resolveOnce()).toEqual({ committed: 2, aborted: 0, waiting: 0, failed: 0 });
    expect(await abRows()).toEqual({ available: before.available - 4, sold: before.sold + 4 });
    expect(await prepared()).toEqual([]);
  });

  it('crash before the decision, then PostgreSQL SIGKILLed and restarted: the resolver presumes abort once the owner lease expires', async () => {
    const before = await abRows();
    const s = spec(7);
    await crashingRun(s, 'beforeDecision');
    // While the crashed coordinator's lease lives, nobody may presume.
    expect(await resolver().resolveOnce()).toMatchObject({ waiting: 2, aborted: 0 });
    await crashAndRestartPostgres();
    expect(await prepared()).toEqual(expect.arrayContaining([`${s.gid}/a`, `${s.gid}/b`]));
    const owner = await client.kv.range({ key: Buffer.from(ownerKey(s.gid)) });
    if (owner.kvs.length > 0) {
      await firstEvent(client, { key: ownerKey(s.gid), startRevision: BigInt(owner.header.revision) + 1n, only: 'delete' }, AbortSignal.timeout(15_000));
    }
    expect(await resolver().resolveOnce()).toEqual({ committed: 0, aborted: 2, waiting: 0, failed: 0 });
    expect(await readDecision(client, s.gid)).toMatchObject({ decision: 'abort', by: 'pg-recoverer' });
    expect(await abRows()).toEqual(before);
    expect(await prepared()).toEqual([]);
    // The branches are now barred: a late prepare is refused.
    expect(await participant.prepare({ gid: s.gid, branch: 'a' }, sell(7, 'a'))).toBe('aborted-before');
  });

  it('a full run through the coordinator commits both branches', async () => {
    const before = await abRows();
    const c = new TwoPhaseCoordinator({ caller, coord: client, instanceId: 'orders-pg-2', logger, leaseTtlSeconds: 1 });
    try {
      const s = spec(1);
      expect(await c.run(s)).toEqual({ gid: s.gid, status: 'committed' });
      expect(await abRows()).toEqual({ available: before.available - 2, sold: before.sold + 2 });
      const refused = spec(1_000_000);
      expect(await c.run(refused)).toMatchObject({ status: 'aborted', error: { code: 'OUT_OF_STOCK' } });
      expect(await abRows()).toEqual({ available: before.available - 2, sold: before.sold + 2 });
      expect(await prepared()).toEqual([]);
    } finally {
      await c.close();
    }
  });
});
