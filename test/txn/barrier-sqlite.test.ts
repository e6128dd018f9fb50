// The barrier on SQLite: each anomaly of a branch (duplicate, null compensation, hanging) and a
// property over any interleaving of action and compensate deliveries.
import path from 'node:path';
import type Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShoalError } from '../../src/errors/index.js';
import {
  BRANCH_COMPENSATED,
  BranchParamsSchema,
  assertBranchParams,
  barrierSqlite,
  branchCompensatedError,
  decideBarrier,
  migrateBarrierSqlite,
} from '../../src/txn/index.js';
import type { BarrierOutcome } from '../../src/txn/types.js';
import { openDb, tempDir } from './saga-fixtures.js';

/** A participant whose business effect is a counter per gid: action +1, compensate -1. */
class Counter {
  constructor(readonly db: Database.Database) {
    migrateBarrierSqlite(db);
    db.exec('CREATE TABLE IF NOT EXISTS effect (gid TEXT PRIMARY KEY, n INTEGER NOT NULL) STRICT');
  }

  /** `fail` makes the business change refuse after the barrier: the whole transaction rolls back. */
  action(gid: string, branch: string, fail = false): BarrierOutcome {
    return this.db
      .transaction(() => {
        const outcome = barrierSqlite(this.db, { gid, branch, op: 'action' });
        if (outcome === 'hanging') throw branchCompensatedError({ gid, branch });
        if (outcome === 'proceed') {
          if (fail) throw new ShoalError({ code: 'OUT_OF_STOCK', message: 'no', retryable: false });
          this.#bump(gid, 1);
        }
        return outcome;
      })
      .immediate();
  }

  compensate(gid: string, branch: string): BarrierOutcome {
    return this.db
      .transaction(() => {
        const outcome = barrierSqlite(this.db, { gid, branch, op: 'compensate' });
        if (outcome === 'proceed') this.#bump(gid, -1);
        return outcome;
      })
      .immediate();
  }

  effect(gid: string): number {
    return (this.db.prepare('SELECT n FROM effect WHERE gid = ?').get(gid) as { n: number } | undefined)?.n ?? 0;
  }

  #bump(gid: string, by: number): void {
    this.db.prepare('INSERT INTO effect (gid, n) VALUES (?, ?) ON CONFLICT (gid) DO UPDATE SET n = n + excluded.n').run(gid, by);
  }
}

let tmp: ReturnType<typeof tempDir>;
let db: Database.Database;
let counter: Counter;
let seq = 0;
const nextGid = (): string => `g-${++seq}`;

beforeAll(() => {
  tmp = tempDir('barrier');
  db = openDb(path.join(tmp.dir, 'participant.db'));
  counter = new Counter(db);
});

afterAll(() => {
  db.close();
  tmp.cleanup();
});

function hangingCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof ShoalError ? err.code : 'not a ShoalError';
  }
}

describe('barrierSqlite', () => {
  it('creates its table idempotently, STRICT and WITHOUT ROWID', () => {
    migrateBarrierSqlite(db);
    const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'shoal_barrier'").get() as { sql: string }).sql;
    expect(sql).toMatch(/STRICT/);
    expect(sql).toMatch(/WITHOUT ROWID/);
    expect(sql).toMatch(/PRIMARY KEY \(gid, branch, op\)/);
  });

  it('a duplicate action runs the business change once', () => {
    const gid = nextGid();
    expect(counter.action(gid, 'b1')).toBe('proceed');
    expect(counter.action(gid, 'b1')).toBe('duplicate');
    expect(counter.action(gid, 'b1')).toBe('duplicate');
    expect(counter.effect(gid)).toBe(1);
  });

  it('a compensation before its action is a null compensation, and the action then hangs', () => {
    const gid = nextGid();
    expect(counter.compensate(gid, 'b1')).toBe('null-compensation');
    expect(counter.effect(gid)).toBe(0);
    expect(hangingCode(() => counter.action(gid, 'b1'))).toBe(BRANCH_COMPENSATED);
    expect(counter.effect(gid)).toBe(0);
    // The hanging refusal rolled nothing in: the rows are the compensation's two.
    const ops = db.prepare('SELECT op FROM shoal_barrier WHERE gid = ? ORDER BY op').all(gid) as { op: string }[];
    expect(ops.map((r) => r.op)).toEqual(['action', 'compensate']);
  });

  it('an action after its compensation does nothing and is refused', () => {
    const gid = nextGid();
    expect(counter.action(gid, 'b1')).toBe('proceed');
    expect(counter.compensate(gid, 'b1')).toBe('proceed');
    expect(counter.effect(gid)).toBe(0);
    expect(hangingCode(() => counter.action(gid, 'b1'))).toBe(BRANCH_COMPENSATED);
    expect(counter.effect(gid)).toBe(0);
  });

  it('a compensation twice undoes once', () => {
    const gid = nextGid();
    counter.action(gid, 'b1');
    expect(counter.compensate(gid, 'b1')).toBe('proceed');
    expect(counter.compensate(gid, 'b1')).toBe('duplicate');
    expect(counter.effect(gid)).toBe(0);
    const g2 = nextGid();
    expect(counter.compensate(g2, 'b1')).toBe('null-compensation');
    expect(counter.compensate(g2, 'b1')).toBe('duplicate');
    expect(counter.effect(g2)).toBe(0);
  });

  it('a failed action rolls its barrier row back: a retry may proceed, a compensation is null', () => {
    const gid = nextGid();
    expect(() => counter.action(gid, 'b1', true)).toThrow(ShoalError);
    expect(counter.action(gid, 'b1')).toBe('proceed');
    expect(counter.effect(gid)).toBe(1);
    const g2 = nextGid();
    expect(() => counter.action(g2, 'b1', true)).toThrow(ShoalError);
    expect(counter.compensate(g2, 'b1')).toBe('null-compensation');
    expect(counter.effect(g2)).toBe(0);
  });

  it('branches of one gid are independent', () => {
    const gid = nextGid();
    expect(counter.action(gid, 'b1')).toBe('proceed');
    expect(counter.compensate(gid, 'b2')).toBe('null-compensation');
    expect(counter.action(gid, 'b3')).toBe('proceed');
    expect(counter.effect(gid)).toBe(2);
  });

  it('refuses to run outside a transaction, and checks its params', () => {
    expect(() => barrierSqlite(db, { gid: nextGid(), branch: 'b', op: 'action' })).toThrow(/inside the participant's open transaction/);
    const inTx = (p: { gid: string; branch: string }) => db.transaction(() => barrierSqlite(db, { ...p, op: 'action' })).immediate();
    expect(() => inTx({ gid: 'bad gid', branch: 'b' })).toThrow(/gid must match/);
    expect(() => inTx({ gid: 'ok', branch: 'x'.repeat(129) })).toThrow(/branch must match/);
  });

  it('prepare / abort / commit follow the same rules', () => {
    const gid = nextGid();
    const run = (op: 'prepare' | 'abort' | 'commit') => db.transaction(() => barrierSqlite(db, { gid, branch: 'p', op })).immediate();
    expect(run('abort')).toBe('null-compensation');
    expect(run('prepare')).toBe('hanging');
    const g2 = nextGid();
    const run2 = (op: 'prepare' | 'abort' | 'commit') => db.transaction(() => barrierSqlite(db, { gid: g2, branch: 'p', op })).immediate();
    expect(run2('prepare')).toBe('proceed');
    expect(run2('commit')).toBe('proceed');
    expect(run2('commit')).toBe('duplicate');
  });

  it('property: any interleaving of deliveries nets 0 or 1 effects, and 0 once a compensation ran', () => {
    const op = fc.constantFrom('action', 'action-fail', 'compensate');
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 10 }), (ops) => {
        const gid = nextGid();
        let compensated = false;
        let actionApplied = false;
        for (const o of ops) {
          if (o === 'compensate') {
            const outcome = counter.compensate(gid, 'b');
            // A compensation proceeds exactly when the action's effect is there to undo.
            expect(outcome === 'proceed').toBe(!compensated && actionApplied);
            if (!compensated) expect(outcome).not.toBe('duplicate');
            compensated = true;
          } else {
            let outcome: BarrierOutcome | string;
            try {
              outcome = counter.action(gid, 'b', o === 'action-fail');
            } catch (err) {
              outcome = (err as ShoalError).code;
            }
            if (compensated) expect(outcome).toBe(BRANCH_COMPENSATED);
            else if (actionApplied) expect(outcome).toBe('duplicate');
            else if (o === 'action-fail') expect(outcome).toBe('OUT_OF_STOCK');
            else {
              expect(outcome).toBe('proceed');
              actionApplied = true;
            }
          }
          const effect = counter.effect(gid);
          expect(effect === 0 || effect === 1).toBe(true);
          if (compensated) expect(effect).toBe(0);
          else expect(effect).toBe(actionApplied ? 1 : 0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('decideBarrier (pure)', () => {
  it('maps every consistent row combination and rejects impossible ones', () => {
    expect(decideBarrier({ op: 'action', originInserted: false, ownInserted: true, reverseExisted: false })).toBe('proceed');
    expect(decideBarrier({ op: 'action', originInserted: false, ownInserted: false, reverseExisted: false })).toBe('duplicate');
    expect(decideBarrier({ op: 'action', originInserted: false, ownInserted: false, reverseExisted: true })).toBe('hanging');
    expect(decideBarrier({ op: 'compensate', originInserted: true, ownInserted: true, reverseExisted: false })).toBe('null-compensation');
    expect(decideBarrier({ op: 'compensate', originInserted: false, ownInserted: true, reverseExisted: false })).toBe('proceed');
    expect(decideBarrier({ op: 'compensate', originInserted: false, ownInserted: false, reverseExisted: false })).toBe('duplicate');
    expect(decideBarrier({ op: 'commit', originInserted: false, ownInserted: false, reverseExisted: false })).toBe('duplicate');
    expect(() => decideBarrier({ op: 'compensate', originInserted: true, ownInserted: false, reverseExisted: false })).toThrow();
    expect(() => decideBarrier({ op: 'action', originInserted: true, ownInserted: true, reverseExisted: false })).toThrow();
    expect(() => decideBarrier({ op: 'action', originInserted: false, ownInserted: true, reverseExisted: true })).toThrow();
    expect(() => decideBarrier({ op: 'commit', originInserted: false, ownInserted: false, reverseExisted: true })).toThrow();
  });
});

describe('branch params', () => {
  it('schema and assertion accept [A-Za-z0-9_.:-]{1,128} only', () => {
    expect(BranchParamsSchema.safeParse({ gid: 'order:1.a_b-c', branch: '01-reserve' }).success).toBe(true);
    expect(BranchParamsSchema.safeParse({ gid: '', branch: 'b' }).success).toBe(false);
    expect(BranchParamsSchema.safeParse({ gid: 'a/b', branch: 'b' }).success).toBe(false);
    expect(BranchParamsSchema.safeParse({ gid: 'a', branch: 'b'.repeat(129) }).success).toBe(false);
    expect(() => assertBranchParams({ gid: 'g', branch: 'b' })).not.toThrow();
    expect(() => assertBranchParams({ gid: 'g' })).toThrow(/branch/);
    expect(() => assertBranchParams(null)).toThrow(/gid/);
    const err = branchCompensatedError({ gid: 'g', branch: 'b' });
    expect(err.code).toBe('BRANCH_COMPENSATED');
    expect(err.retryable).toBe(false);
  });
});
