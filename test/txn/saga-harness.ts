// One saga world per test: participant databases, the orchestrating service's database (own
// file, so a second connection can play a restarted process) and orchestrators on it.
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { migrateSagaSqlite, SagaOrchestrator, type SagaFinishedHandler, type SagaOrchestratorOptions } from '../../src/txn/index.js';
import type { SagaResult } from '../../src/txn/types.js';
import {
  FakeCaller,
  ManualClock,
  openDb,
  shopRoutes,
  silentLogger,
  StockParticipant,
  tempDir,
  WalletParticipant,
  type CallRecord,
  type Fault,
} from './saga-fixtures.js';

export interface Finished {
  result: SagaResult;
  payload: Record<string, unknown>;
  by: string;
}

export class SagaWorld {
  readonly tmp = tempDir('saga');
  readonly stock: StockParticipant;
  readonly wallet: WalletParticipant;
  readonly clock = new ManualClock();
  /** Shared across callers so concurrency is seen across orchestrators. */
  readonly active = new Map<string, number>();
  readonly finished: Finished[] = [];
  readonly #dbs: Database.Database[] = [];
  readonly orchestratorFile: string;

  constructor(readonly initialStock: number, readonly initialCents: number) {
    this.stock = new StockParticipant(this.#open('stock.db'), initialStock);
    this.wallet = new WalletParticipant(this.#open('wallet.db'), initialCents);
    this.orchestratorFile = path.join(this.tmp.dir, 'orders.db');
  }

  #open(name: string): Database.Database {
    const db = openDb(path.join(this.tmp.dir, name));
    this.#dbs.push(db);
    return db;
  }

  /** `isolated`: calls of this caller are not counted with the others' (a crashed driver's hung calls). */
  caller(fault?: (record: CallRecord, index: number) => Fault, isolated = false): FakeCaller {
    return new FakeCaller(shopRoutes(this.stock, this.wallet), fault, isolated ? new Map() : this.active);
  }

  /**
   * An orchestrator on a fresh connection to the orchestrating service's database. Its
   * onFinished records into `finished` and into a table in the same transaction.
   */
  orchestrator(
    caller: FakeCaller,
    opts: Partial<SagaOrchestratorOptions> & { logger?: Logger; id?: string; onFinished?: SagaFinishedHandler } = {},
  ): { orch: SagaOrchestrator; db: Database.Database } {
    const db = this.#open('orders.db');
    migrateSagaSqlite(db);
    db.exec('CREATE TABLE IF NOT EXISTS orders_done (gid TEXT PRIMARY KEY, status TEXT NOT NULL) STRICT');
    const orch = new SagaOrchestrator({
      db,
      caller,
      instanceId: opts.id ?? 'orders-1',
      logger: opts.logger ?? silentLogger(),
      backoff: { baseMs: 1, maxMs: 2 },
      leaseMs: 60_000,
      pollMs: 2,
      now: this.clock.now,
      ...opts,
    });
    orch.onFinished('order.place', opts.onFinished ?? ((result, payload, trx) => {
      // Inside the terminal transaction: a duplicate finish would violate the primary key.
      trx.prepare('INSERT INTO orders_done (gid, status) VALUES (?, ?)').run(result.gid, result.status);
      this.finished.push({ result, payload, by: orch.owner });
    }));
    return { orch, db };
  }

  /** The terminal rows as the orchestrating database sees them. */
  sagaRow(db: Database.Database, gid: string): { status: string; next_step: number; owner: string | null; failed_step: string | null } | undefined {
    return db.prepare('SELECT status, next_step, owner, failed_step FROM shoal_saga WHERE gid = ?').get(gid) as never;
  }

  /** Money and stock are conserved; per saga, effects are all there (committed) or none (aborted). */
  checkInvariants(results: Map<string, 'committed' | 'aborted'>, orders: Map<string, { qty: number; cents: number }>): void {
    const reservations = this.stock.reservations();
    const payments = this.wallet.payments();
    let reserved = 0;
    let paid = 0;
    for (const [gid, status] of results) {
      const order = orders.get(gid)!;
      if (status === 'committed') {
        if (reservations.get(gid) !== order.qty || payments.get(gid) !== order.cents) throw new Error(`${gid} committed without all its effects`);
        reserved += order.qty;
        paid += order.cents;
      } else if (reservations.has(gid) || payments.has(gid)) {
        throw new Error(`${gid} aborted with effects left`);
      }
    }
    if (reservations.size + payments.size !== [...results.values()].filter((s) => s === 'committed').length * 2) {
      throw new Error('effects of sagas that are not committed');
    }
    if (this.stock.stock() + reserved !== this.initialStock) throw new Error(`stock not conserved: ${this.stock.stock()} + ${reserved} != ${this.initialStock}`);
    if (this.wallet.cents() + paid !== this.initialCents) throw new Error(`money not conserved: ${this.wallet.cents()} + ${paid} != ${this.initialCents}`);
  }

  close(): void {
    for (const db of this.#dbs) if (db.open) db.close();
    this.tmp.cleanup();
  }
}
