// A 2PC participant on PostgreSQL, with the database's own durable prepare (the XA mode of
// Seata): BEGIN, the business work, a barrier row, then PREPARE TRANSACTION '<xid>'. The prepared
// transaction survives a crash of this process and of PostgreSQL itself; COMMIT PREPARED or
// ROLLBACK PREPARED finishes it, from any connection and any instance.
//
// Idempotency without a separate outcome log: the prepared transaction carries its own marker,
// the barrier row (gid, branch, 'prepare'). It becomes visible exactly when the prepared work
// commits, and disappears with a rollback. So when the prepared transaction is gone:
//   - 'prepare' row and no 'abort' row → it was committed;
//   - an 'abort' row → it was aborted (the abort records it, and a 'prepare' placeholder that
//     refuses a late prepare, as the barrier does for null compensations);
//   - neither → it never prepared.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ShoalError } from '../../errors/index.js';
import type { BranchParams } from '../types.js';
import { barrierPg, migrateBarrierPg, type PgQueryable } from './pg-barrier.js';
import { assertTxnId } from './keys.js';
import type { PrepareOutcome } from './sqlite-participant.js';

/** Prefix of every prepared-transaction identifier Shoal makes (pg_prepared_xacts.gid). */
export const XID_PREFIX = 'shoal:';
/** PostgreSQL's limit on a prepared transaction's identifier is 200 bytes including the NUL. */
const XID_MAX = 199;

export type PgCommitOutcome = 'committed' | 'duplicate';
export type PgAbortOutcome = 'rolled-back' | 'duplicate' | 'never-prepared';

export interface PgInDoubtBranch extends BranchParams {
  xid: string;
  preparedAt: Date;
}

export interface PgTwoPcParticipantOptions {
  pool: pg.Pool;
  /** Bound on waiting for a row lock held by a concurrent prepare of the same branch. Default 2000. */
  lockTimeoutMs?: number;
}

/** The deterministic transaction identifier of a branch (hashed when gid/branch are too long). */
export function pgXid(p: BranchParams): string {
  assertTxnId(p.gid, 'gid');
  assertTxnId(p.branch, 'branch');
  const plain = `${XID_PREFIX}${p.gid}/${p.branch}`;
  if (plain.length <= XID_MAX) return plain;
  return `${XID_PREFIX}#${createHash('sha256').update(`${p.gid}/${p.branch}`).digest('hex')}`;
}

/** The xid as an SQL literal. PREPARE/COMMIT PREPARED take no bind parameters, so check, then quote. */
function xidLiteral(xid: string): string {
  if (!/^[A-Za-z0-9_.:/#-]{1,199}$/.test(xid)) throw new Error(`unsafe prepared transaction id ${JSON.stringify(xid)}`);
  return `'${xid}'`;
}

const UNDEFINED_OBJECT = '42704'; // prepared transaction does not exist
const OBJECT_IN_USE = '55006'; // prepared transaction is busy (being finished by another session)
const LOCK_NOT_AVAILABLE = '55P03'; // lock_timeout
const RETRYABLE_PG = new Set([OBJECT_IN_USE, LOCK_NOT_AVAILABLE, '40001', '40P01']);

function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A transient PostgreSQL failure as a retryable ShoalError (the transaction did not happen). */
function busy(p: BranchParams, what: string, err: unknown): ShoalError {
  return new ShoalError({ code: 'BRANCH_BUSY', message: `${what} of ${p.gid}/${p.branch}: ${(err as Error).message}`, retryable: true, cause: err, details: { gid: p.gid, branch: p.branch } });
}

export class PgTwoPcParticipant {
  readonly pool: pg.Pool;
  private readonly lockTimeoutMs: number;

  constructor(opts: PgTwoPcParticipantOptions) {
    this.pool = opts.pool;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 2000;
    if (!Number.isInteger(this.lockTimeoutMs) || this.lockTimeoutMs < 1) throw new RangeError('lockTimeoutMs must be a positive integer');
  }

  /** Creates shoal_barrier and shoal_twopc_xids. Idempotent. */
  async migrate(): Promise<void> {
    await migrateBarrierPg(this.pool);
    await this.pool.query(`CREATE TABLE IF NOT EXISTS shoal_twopc_xids (
      xid text PRIMARY KEY,
      gid text NOT NULL,
      branch text NOT NULL
    )`);
  }

  /**
   * Runs `work` in a transaction that is then prepared (not committed). On 'proceed' the work is
   * durably prepared; 'duplicate' means it already was (prepared or committed) and `work` did not
   * run; 'aborted-before' means the branch was aborted first and must be refused. An error thrown
   * by `work` rolls everything back (a business refusal).
   */
  async prepare(p: BranchParams, work: (client: pg.PoolClient) => Promise<void>): Promise<PrepareOutcome> {
    const xid = pgXid(p);
    const client = await this.pool.connect();
    let inTxn = false;
    try {
      // A repeat while the first is still prepared would wait on the prepared barrier row forever.
      if (await isPrepared(client, xid)) return 'duplicate';
      if (xid.startsWith(`${XID_PREFIX}#`)) {
        await client.query('INSERT INTO shoal_twopc_xids (xid, gid, branch) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [xid, p.gid, p.branch]);
      }
      await client.query('BEGIN');
      inTxn = true;
      await client.query(`SET LOCAL lock_timeout = ${this.lockTimeoutMs}`);
      const outcome = await barrierPg(client, { gid: p.gid, branch: p.branch, op: 'prepare' });
      if (outcome !== 'proceed') {
        await client.query('ROLLBACK');
        inTxn = false;
        if (outcome === 'hanging') return 'aborted-before';
        if (outcome === 'duplicate') return 'duplicate';
        throw new Error(`barrier answered ${outcome} to a prepare (${p.gid}/${p.branch})`);
      }
      await work(client);
      await client.query(`PREPARE TRANSACTION ${xidLiteral(xid)}`);
      inTxn = false;
      return 'proceed';
    } catch (err) {
      if (inTxn) await client.query('ROLLBACK').catch(() => undefined);
      if (RETRYABLE_PG.has(pgCode(err) ?? '')) throw busy(p, 'prepare', err);
      throw err;
    } finally {
      client.release();
    }
  }

  /** COMMIT PREPARED; 'duplicate' when it was already committed. Throws if it never prepared or was aborted. */
  async commit(p: BranchParams): Promise<PgCommitOutcome> {
    const xid = pgXid(p);
    try {
      await this.pool.query(`COMMIT PREPARED ${xidLiteral(xid)}`);
      return 'committed';
    } catch (err) {
      const code = pgCode(err);
      if (code !== UNDEFINED_OBJECT) throw RETRYABLE_PG.has(code ?? '') ? busy(p, 'commit', err) : err;
    }
    const ops = await barrierOps(this.pool, p);
    if (ops.has('abort')) throw new Error(`commit of ${p.gid}/${p.branch}, which was aborted`);
    if (ops.has('prepare')) return 'duplicate';
    throw new ShoalError({ code: 'NOT_PREPARED', message: `commit of ${p.gid}/${p.branch}, which was never prepared`, retryable: false, details: { gid: p.gid, branch: p.branch } });
  }

  /** ROLLBACK PREPARED, and a barrier so a late prepare is refused. Throws if it was committed. */
  async abort(p: BranchParams): Promise<PgAbortOutcome> {
    const xid = pgXid(p);
    let rolledBack = false;
    try {
      await this.pool.query(`ROLLBACK PREPARED ${xidLiteral(xid)}`);
      rolledBack = true;
    } catch (err) {
      const code = pgCode(err);
      if (code !== UNDEFINED_OBJECT) throw RETRYABLE_PG.has(code ?? '') ? busy(p, 'abort', err) : err;
    }
    const client = await this.pool.connect();
    let inTxn = false;
    try {
      await client.query('BEGIN');
      inTxn = true;
      // A prepare running right now holds its 'prepare' row: wait a bound, then let the caller
      // retry (its next attempt finds the prepared transaction and rolls it back).
      await client.query(`SET LOCAL lock_timeout = ${this.lockTimeoutMs}`);
      const outcome = await barrierPg(client, { gid: p.gid, branch: p.branch, op: 'abort' });
      // 'proceed' means a committed 'prepare' row was there: the prepared work had committed.
      if (outcome === 'proceed') throw new Error(`abort of ${p.gid}/${p.branch}, which was committed`);
      await client.query('COMMIT');
      inTxn = false;
      if (rolledBack) return 'rolled-back';
      return outcome === 'null-compensation' ? 'never-prepared' : 'duplicate';
    } catch (err) {
      if (inTxn) await client.query('ROLLBACK').catch(() => undefined);
      if (RETRYABLE_PG.has(pgCode(err) ?? '')) throw busy(p, 'abort', err);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Branches prepared in this database and not yet finished, oldest first. */
  async inDoubt(): Promise<PgInDoubtBranch[]> {
    const res = await this.pool.query<{ gid: string; prepared: Date; mgid: string | null; mbranch: string | null }>(
      `SELECT p.gid, p.prepared, x.gid AS mgid, x.branch AS mbranch
         FROM pg_prepared_xacts p LEFT JOIN shoal_twopc_xids x ON x.xid = p.gid
        WHERE p.database = current_database() AND starts_with(p.gid, $1)
        ORDER BY p.prepared`,
      [XID_PREFIX],
    );
    const out: PgInDoubtBranch[] = [];
    for (const row of res.rows) {
      const parsed = row.mgid !== null && row.mbranch !== null ? { gid: row.mgid, branch: row.mbranch } : parseXid(row.gid);
      if (parsed !== undefined) out.push({ ...parsed, xid: row.gid, preparedAt: row.prepared });
    }
    return out;
  }
}

function parseXid(xid: string): BranchParams | undefined {
  const rest = xid.slice(XID_PREFIX.length);
  const slash = rest.indexOf('/');
  if (rest.startsWith('#') || slash < 0) return undefined;
  return { gid: rest.slice(0, slash), branch: rest.slice(slash + 1) };
}

async function isPrepared(db: PgQueryable, xid: string): Promise<boolean> {
  const res = await db.query('SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()', [xid]);
  return (res.rowCount ?? 0) > 0;
}

async function barrierOps(db: PgQueryable, p: BranchParams): Promise<Set<string>> {
  const res = await db.query<{ op: string }>('SELECT op FROM shoal_barrier WHERE gid = $1 AND branch = $2', [p.gid, p.branch]);
  return new Set(res.rows.map((r) => r.op));
}
