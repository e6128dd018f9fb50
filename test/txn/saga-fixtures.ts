// Test doubles for the barrier and saga tests: participants ('stock', 'wallet') built on
// barrierSqlite over SQLite files, a Caller that routes to them with injected faults, a manual
// clock and an in-process recovery lock.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { ErrorCode, ShoalError } from '../../src/errors/index.js';
import type { Caller, CallOptions } from '../../src/runtime/index.js';
import { barrierSqlite, branchCompensatedError, migrateBarrierSqlite, type RecoveryLock } from '../../src/txn/index.js';
import type { BranchParams } from '../../src/txn/types.js';

export function tempDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), `shoal-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function openDb(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  // Test data: a process crash is what the tests simulate, not power loss.
  db.pragma('synchronous = NORMAL');
  return db;
}

type Params = BranchParams & Record<string, unknown>;

/** Stock of one item: reserve (action) moves qty into a reservation, release (compensate) moves it back. */
export class StockParticipant {
  constructor(readonly db: Database.Database, initial: number) {
    migrateBarrierSqlite(db);
    db.exec('CREATE TABLE IF NOT EXISTS stock (id INTEGER PRIMARY KEY CHECK (id = 1), qty INTEGER NOT NULL) STRICT');
    db.exec('CREATE TABLE IF NOT EXISTS reservation (gid TEXT NOT NULL, branch TEXT NOT NULL, qty INTEGER NOT NULL, PRIMARY KEY (gid, branch)) STRICT');
    db.prepare('INSERT OR IGNORE INTO stock (id, qty) VALUES (1, ?)').run(initial);
  }

  reserve(p: Params): { reserved: number } {
    return this.db
      .transaction(() => {
        const qty = p['qty'] as number;
        const outcome = barrierSqlite(this.db, { gid: p.gid, branch: p.branch, op: 'action' });
        if (outcome === 'hanging') throw branchCompensatedError(p);
        if (outcome !== 'proceed') return { reserved: qty };
        const { changes } = this.db.prepare('UPDATE stock SET qty = qty - ? WHERE id = 1 AND qty >= ?').run(qty, qty);
        // Throwing rolls back the barrier row with it: a later release is a null compensation.
        if (changes === 0) throw new ShoalError({ code: 'OUT_OF_STOCK', message: `cannot reserve ${qty}`, retryable: false });
        this.db.prepare('INSERT INTO reservation (gid, branch, qty) VALUES (?, ?, ?)').run(p.gid, p.branch, qty);
        return { reserved: qty };
      })
      .immediate();
  }

  release(p: Params): { released: boolean } {
    return this.db
      .transaction(() => {
        const outcome = barrierSqlite(this.db, { gid: p.gid, branch: p.branch, op: 'compensate' });
        if (outcome !== 'proceed') return { released: false };
        const row = this.db.prepare('SELECT qty FROM reservation WHERE gid = ? AND branch = ?').get(p.gid, p.branch) as { qty: number } | undefined;
        if (row === undefined) throw new Error(`release of ${p.gid}/${p.branch}: no reservation although the action ran`);
        this.db.prepare('UPDATE stock SET qty = qty + ? WHERE id = 1').run(row.qty);
        this.db.prepare('DELETE FROM reservation WHERE gid = ? AND branch = ?').run(p.gid, p.branch);
        return { released: true };
      })
      .immediate();
  }

  stock(): number {
    return (this.db.prepare('SELECT qty FROM stock WHERE id = 1').get() as { qty: number }).qty;
  }

  reservations(): Map<string, number> {
    const rows = this.db.prepare('SELECT gid, qty FROM reservation').all() as { gid: string; qty: number }[];
    return new Map(rows.map((r) => [r.gid, r.qty]));
  }
}

/** One wallet: debit (action) moves cents into a payment, refund (compensate) moves them back. */
export class WalletParticipant {
  constructor(readonly db: Database.Database, initial: number) {
    migrateBarrierSqlite(db);
    db.exec('CREATE TABLE IF NOT EXISTS wallet (id INTEGER PRIMARY KEY CHECK (id = 1), cents INTEGER NOT NULL) STRICT');
    db.exec('CREATE TABLE IF NOT EXISTS payment (gid TEXT NOT NULL, branch TEXT NOT NULL, cents INTEGER NOT NULL, PRIMARY KEY (gid, branch)) STRICT');
    db.prepare('INSERT OR IGNORE INTO wallet (id, cents) VALUES (1, ?)').run(initial);
  }

  debit(p: Params): { paid: number } {
    return this.db
      .transaction(() => {
        const cents = p['cents'] as number;
        const outcome = barrierSqlite(this.db, { gid: p.gid, branch: p.branch, op: 'action' });
        if (outcome === 'hanging') throw branchCompensatedError(p);
        if (outcome !== 'proceed') return { paid: cents };
        const { changes } = this.db.prepare('UPDATE wallet SET cents = cents - ? WHERE id = 1 AND cents >= ?').run(cents, cents);
        if (changes === 0) throw new ShoalError({ code: 'INSUFFICIENT_FUNDS', message: `cannot pay ${cents}`, retryable: false });
        this.db.prepare('INSERT INTO payment (gid, branch, cents) VALUES (?, ?, ?)').run(p.gid, p.branch, cents);
        return { paid: cents };
      })
      .immediate();
  }

  refund(p: Params): { refunded: boolean } {
    return this.db
      .transaction(() => {
        const outcome = barrierSqlite(this.db, { gid: p.gid, branch: p.branch, op: 'compensate' });
        if (outcome !== 'proceed') return { refunded: false };
        const row = this.db.prepare('SELECT cents FROM payment WHERE gid = ? AND branch = ?').get(p.gid, p.branch) as { cents: number } | undefined;
        if (row === undefined) throw new Error(`refund of ${p.gid}/${p.branch}: no payment although the debit ran`);
        this.db.prepare('UPDATE wallet SET cents = cents + ? WHERE id = 1').run(row.cents);
        this.db.prepare('DELETE FROM payment WHERE gid = ? AND branch = ?').run(p.gid, p.branch);
        return { refunded: true };
      })
      .immediate();
  }

  cents(): number {
    return (this.db.prepare('SELECT cents FROM wallet WHERE id = 1').get() as { cents: number }).cents;
  }

  payments(): Map<string, number> {
    const rows = this.db.prepare('SELECT gid, cents FROM payment').all() as { gid: string; cents: number }[];
    return new Map(rows.map((r) => [r.gid, r.cents]));
  }
}

/**
 * What the network does to one call:
 * - none: delivered once, answered;
 * - lost-request: never delivered (UNAVAILABLE, retryable);
 * - lost-reply: delivered, the answer lost (CONNECTION_LOST, maybeExecuted);
 * - timeout: delivered, then DEADLINE_EXCEEDED;
 * - duplicate: delivered twice, answered;
 * - crash-unknown: a foreign error without delivery (outcome unknown to the orchestrator);
 * - hang: delivered only when the test releases it (or never).
 */
export type Fault = 'none' | 'lost-request' | 'lost-reply' | 'timeout' | 'duplicate' | 'crash-unknown' | 'hang';

export interface CallRecord {
  action: string;
  gid: string;
  branch: string;
  fault: Fault;
  /** The participant's answer or error code, once delivered. */
  outcome?: string;
}

export type Handler = (params: Params) => unknown;

/** A Caller routing to in-process participants, with a fault chosen per call. */
export class FakeCaller implements Caller {
  readonly calls: CallRecord[] = [];
  readonly options: CallOptions[] = [];
  /** Most calls of one gid in flight at once, counted across every FakeCaller sharing `active`. */
  maxConcurrentPerGid = 0;
  readonly #hung: { release: () => void; record: CallRecord }[] = [];
  #onHang: (() => void) | undefined;

  constructor(
    private readonly routes: Record<string, Handler>,
    private readonly fault: (record: CallRecord, index: number) => Fault = () => 'none',
    private readonly active: Map<string, number> = new Map(),
  ) {}

  async call<T = unknown>(action: string, params?: unknown, options?: CallOptions): Promise<T> {
    const p = params as Params;
    const record: CallRecord = { action, gid: p.gid, branch: p.branch, fault: 'none' };
    const index = this.calls.length;
    this.calls.push(record);
    this.options.push(options ?? {});
    record.fault = this.fault(record, index);
    const handler = this.routes[action];
    if (handler === undefined) throw new ShoalError({ code: ErrorCode.NO_ENDPOINT, message: `no ${action}`, retryable: true });
    const n = (this.active.get(p.gid) ?? 0) + 1;
    this.active.set(p.gid, n);
    this.maxConcurrentPerGid = Math.max(this.maxConcurrentPerGid, n);
    try {
      return await this.#handle<T>(handler, p, record);
    } finally {
      this.active.set(p.gid, (this.active.get(p.gid) ?? 1) - 1);
    }
  }

  async #handle<T>(handler: Handler, p: Params, record: CallRecord): Promise<T> {
    // A turn of the event loop, as a network call would take: other drivers interleave here.
    await new Promise((resolve) => setImmediate(resolve));
    switch (record.fault) {
      case 'lost-request':
        throw new ShoalError({ code: ErrorCode.UNAVAILABLE, message: 'injected: request lost', retryable: true });
      case 'crash-unknown':
        throw new Error('injected: socket hang up');
      case 'hang':
        await new Promise<void>((resolve) => {
          this.#hung.push({ release: resolve, record });
          this.#onHang?.();
        });
        break;
      default:
        break;
    }
    const result = this.#deliver(handler, p, record);
    if (record.fault === 'duplicate') this.#deliver(handler, p, record);
    if (record.fault === 'lost-reply') {
      throw new ShoalError({ code: 'CONNECTION_LOST', message: 'injected: reply lost', retryable: false, details: { maybeExecuted: true } });
    }
    if (record.fault === 'timeout') {
      throw new ShoalError({ code: ErrorCode.DEADLINE_EXCEEDED, message: 'injected: timed out', retryable: false, details: { maybeExecuted: true } });
    }
    if (result instanceof Error) throw result;
    return result as T;
  }

  #deliver(handler: Handler, p: Params, record: CallRecord): unknown {
    try {
      const out = handler(p);
      record.outcome = 'ok';
      return out;
    } catch (err) {
      record.outcome = err instanceof ShoalError ? err.code : 'error';
      return err;
    }
  }

  /** Resolves once a call is hanging (at once if one already is). */
  nextHang(): Promise<CallRecord> {
    const existing = this.#hung[0];
    if (existing !== undefined) return Promise.resolve(existing.record);
    return new Promise((resolve) => {
      this.#onHang = () => {
        this.#onHang = undefined;
        resolve(this.#hung[0]!.record);
      };
    });
  }

  releaseHung(): void {
    for (const h of this.#hung.splice(0)) h.release();
  }
}

export function shopRoutes(stock: StockParticipant, wallet: WalletParticipant): Record<string, Handler> {
  return {
    'stock.reserve': (p) => stock.reserve(p),
    'stock.release': (p) => stock.release(p),
    'wallet.debit': (p) => wallet.debit(p),
    'wallet.refund': (p) => wallet.refund(p),
  };
}

export function orderSaga(gid: string, qty: number, cents: number, extra: Record<string, unknown> = {}) {
  return {
    gid,
    kind: 'order.place',
    payload: { orderId: `o-${gid}` },
    steps: [
      { name: 'reserve', action: 'stock.reserve', compensation: 'stock.release', params: { qty, ...extra } },
      { name: 'pay', action: 'wallet.debit', compensation: 'wallet.refund', params: { cents, ...extra } },
    ],
  };
}

export class ManualClock {
  constructor(public t = 1_700_000_000_000) {}
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Logger whose JSON lines the test can read. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

export const silentLogger = (): Logger => pino({ level: 'silent' });

/** An in-process mutex standing in for the coordinator lock: FIFO hand-over, revocable. */
export class InProcessLock {
  #holder: { ctl: AbortController } | undefined;
  readonly #queue: { grant: () => void; signal: AbortSignal }[] = [];
  grants = 0;

  readonly acquire = (signal: AbortSignal): Promise<RecoveryLock> =>
    new Promise((resolve, reject) => {
      const grant = (): void => {
        const ctl = new AbortController();
        this.#holder = { ctl };
        this.grants++;
        const holder = this.#holder;
        resolve({
          lost: ctl.signal,
          isHeld: () => this.#holder === holder,
          release: async () => {
            if (this.#holder === holder) this.#handOver();
            ctl.abort();
          },
        });
      };
      if (signal.aborted) return reject(signal.reason);
      if (this.#holder === undefined) return grant();
      const entry = { grant, signal };
      this.#queue.push(entry);
      signal.addEventListener('abort', () => {
        const i = this.#queue.indexOf(entry);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(signal.reason);
      }, { once: true });
    });

  /** The holder's session expires: it loses the lock and the next waiter gets it. */
  revoke(): void {
    const holder = this.#holder;
    if (holder === undefined) return;
    this.#handOver();
    holder.ctl.abort(new Error('lock revoked'));
  }

  #handOver(): void {
    this.#holder = undefined;
    const next = this.#queue.shift();
    next?.grant();
  }
}

/** A promise with its resolve, for handlers that tell the test something happened. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
