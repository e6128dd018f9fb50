// Test doubles for 2PC: a fake participant service on its own SQLite database (a resource pool
// with available / held / done amounts per key — stock or a wallet), and a Caller that routes
// `<service>.<action>` to in-process participants, with delivery faults on demand.
import Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { ShoalError, toShoalError } from '../../src/errors/index.js';
import type { Caller } from '../../src/runtime/types.js';
import {
  abortSqlite,
  commitSqlite,
  migrateTwoPcSqlite,
  prepareSqlite,
  type ResourceCallback,
} from '../../src/txn/twopc/index.js';
import type { BranchParams } from '../../src/txn/types.js';

export interface Hold {
  key: string;
  amount: number;
}

export interface Pool {
  available: number;
  held: number;
  done: number;
}

/** One participant: `prepare` holds `amount` of `key` (refusing when short), commit moves it to done, abort back. */
export class FakeParticipant {
  readonly db: BetterSqlite3.Database;
  /** Business effects actually applied (commit finalizations / abort releases), for exactly-once checks. */
  readonly applied: { commit: number; abort: number } = { commit: 0, abort: 0 };

  constructor(readonly service: string, readonly refusalCode: string, initial: Record<string, number>) {
    this.db = new Database(':memory:');
    migrateTwoPcSqlite(this.db);
    this.db.exec('CREATE TABLE pool (key TEXT PRIMARY KEY, available INTEGER NOT NULL, held INTEGER NOT NULL, done INTEGER NOT NULL)');
    const insert = this.db.prepare('INSERT INTO pool VALUES (?, ?, 0, 0)');
    for (const [key, amount] of Object.entries(initial)) insert.run(key, amount);
  }

  pool(key: string): Pool {
    return this.db.prepare('SELECT available, held, done FROM pool WHERE key = ?').get(key) as Pool;
  }

  states(): string[] {
    return (this.db.prepare('SELECT state FROM shoal_prepared ORDER BY gid, branch').all() as { state: string }[]).map((r) => r.state);
  }

  prepare(params: BranchParams & Hold): void {
    this.db.transaction(() => {
      const outcome = prepareSqlite(this.db, params, { key: params.key, amount: params.amount });
      if (outcome === 'aborted-before') {
        throw new ShoalError({ code: 'BRANCH_COMPENSATED', message: `${params.branch} was aborted before its prepare`, retryable: false });
      }
      if (outcome === 'duplicate') return;
      const res = this.db.prepare('UPDATE pool SET available = available - ?, held = held + ? WHERE key = ? AND available >= ?').run(params.amount, params.amount, params.key, params.amount);
      if (res.changes !== 1) throw new ShoalError({ code: this.refusalCode, message: `${this.service}: not enough ${params.key}`, retryable: false });
    })();
  }

  commit(params: BranchParams): void {
    this.db.transaction(() => {
      const resources = commitSqlite(this.db, params);
      if (resources !== null) this.onCommit(params.gid, params.branch, resources, this.db);
    })();
  }

  abort(params: BranchParams): void {
    this.db.transaction(() => {
      const resources = abortSqlite(this.db, params);
      if (resources !== null) this.onAbort(params.gid, params.branch, resources, this.db);
    })();
  }

  readonly onCommit: ResourceCallback = (_gid, _branch, resources, db) => {
    const { key, amount } = resources as Hold;
    const res = db.prepare('UPDATE pool SET held = held - ?, done = done + ? WHERE key = ? AND held >= ?').run(amount, amount, key, amount);
    if (res.changes !== 1) throw new Error(`commit: ${key} holds less than ${amount}`);
    this.applied.commit++;
  };

  readonly onAbort: ResourceCallback = (_gid, _branch, resources, db) => {
    const { key, amount } = resources as Hold;
    const res = db.prepare('UPDATE pool SET held = held - ?, available = available + ? WHERE key = ? AND held >= ?').run(amount, amount, key, amount);
    if (res.changes !== 1) throw new Error(`abort: ${key} holds less than ${amount}`);
    this.applied.abort++;
  };

  close(): void {
    this.db.close();
  }
}

export type Fault = 'none' | 'unavailable-before' | 'lost-after' | 'twice';

/**
 * Routes `<service>.<prepare|commit|abort>` to participants. `fault` decides per delivery what goes
 * wrong: refused before running (retryable), run then the answer lost (maybeExecuted), or
 * delivered twice (a duplicate). Every delivery is counted.
 */
export class RoutingCaller implements Caller {
  readonly deliveries: string[] = [];
  fault: (action: string, attempt: number) => Fault = () => 'none';
  private readonly attempts = new Map<string, number>();

  constructor(private readonly participants: Record<string, FakeParticipant>) {}

  async call<T = unknown>(action: string, params?: unknown): Promise<T> {
    const [service, op] = action.split('.') as [string, string];
    const participant = this.participants[service];
    if (participant === undefined) throw new ShoalError({ code: 'NO_ENDPOINT', message: `no ${service}`, retryable: true });
    const p = params as BranchParams & Hold;
    const key = `${action}/${p.gid}/${p.branch}`;
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    const fault = this.fault(action, attempt);
    if (fault === 'unavailable-before') throw new ShoalError({ code: 'UNAVAILABLE', message: 'injected: not sent', retryable: true, details: { maybeExecuted: false } });
    const deliver = (): void => {
      this.deliveries.push(action);
      try {
        if (op === 'prepare') participant.prepare(p);
        else if (op === 'commit') participant.commit(p);
        else if (op === 'abort') participant.abort(p);
        else throw new ShoalError({ code: 'ACTION_NOT_FOUND', message: action, retryable: false });
      } catch (err) {
        throw toShoalError(err);
      }
    };
    deliver();
    if (fault === 'twice') deliver();
    if (fault === 'lost-after') throw new ShoalError({ code: 'CONNECTION_LOST', message: 'injected: answer lost', retryable: false, details: { maybeExecuted: true } });
    return { ok: true } as T;
  }
}
