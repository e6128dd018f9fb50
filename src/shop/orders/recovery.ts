// No order stays pending (DESIGN section 5). The saga orchestrator's own recovery resumes sagas
// whose driver died, and their onFinished ends the order. What it cannot see, this loop covers:
//   - a saga order whose instance died after the order was written but before its saga was
//     logged: the saga is started now (same gid, same steps — run() starts it at most once);
//   - a 2PC order whose instance died around the decision: the decision stored in the coordinator
//     ends the order; with none stored and no live coordinator (its owner key is gone with its
//     lease) abort is presumed, exactly as the participants' in-doubt resolvers do, so the order
//     and the branches agree.
import { sql } from 'kysely';
import type { Logger } from 'pino';
import { decisionForInDoubt, type Etcd3, type SagaOrchestrator } from '../common/txn.js';
import { sagaSpec } from './specs.js';
import type { OrdersStore } from './store.js';

/** Stale orders looked at per pass (oldest first). */
const PASS_LIMIT = 500;
/** 2PC orders resolved at once within a pass. */
const TWO_PC_PARALLEL = 16;

export interface OrderRecoveryOptions {
  store: OrdersStore;
  saga: SagaOrchestrator;
  /** Without one, 2PC orders are not recovered here (and none can be placed). */
  coord: Etcd3 | undefined;
  instanceId: string;
  logger: Logger;
  /** Only orders at least this old: younger ones are still in their live request. Default 5 s. */
  staleAfterMs?: number;
  /** Between passes. Default 1 s. */
  intervalMs?: number;
}

export interface RecoveryPass {
  sagasStarted: number;
  ended: number;
  waiting: number;
  failed: number;
}

export class OrderRecovery {
  readonly #o: OrderRecoveryOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = true;

  constructor(options: OrderRecoveryOptions) {
    this.#o = options;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One pass over the stale pending orders. */
  async recoverOnce(): Promise<RecoveryPass> {
    const { store, saga, coord, logger } = this.#o;
    const pass: RecoveryPass = { sagasStarted: 0, ended: 0, waiting: 0, failed: 0 };
    const before = store.now() - (this.#o.staleAfterMs ?? 5_000);

    for (const order of await store.pending('saga', before)) {
      try {
        const logged = await sql<{ one: number }>`SELECT 1 AS one FROM shoal_saga WHERE gid = ${order.id}`.execute(store.db.kysely);
        if (logged.rows.length > 0) {
          pass.waiting++; // the orchestrator's recovery owns it
          continue;
        }
        pass.sagasStarted++;
        // Not awaited: the saga runs as long as it runs; run() refuses to start it twice.
        saga.run(sagaSpec(order)).catch((err: unknown) => logger.warn({ err, orderId: order.id }, 'recovered order saga did not finish'));
      } catch (err) {
        pass.failed++;
        logger.warn({ err, orderId: order.id }, 'could not recover a pending saga order');
      }
    }

    if (coord !== undefined) {
      // Each order costs one to three coordinator round trips; under overload those take long, so
      // orders are looked at several at a time (a sequential pass over hundreds of orders once
      // took longer than the 30 s in which every order must end).
      await forEachLimit(await store.pending('2pc', before, PASS_LIMIT), TWO_PC_PARALLEL, async (order) => {
        try {
          const decision = await decisionForInDoubt(coord, order.id, this.#o.instanceId);
          if (decision === undefined) {
            pass.waiting++; // its coordinator is alive and deciding
            return;
          }
          const ended = await store.finish(
            order.id,
            decision.decision === 'commit'
              ? { status: 'confirmed' }
              : { status: 'failed', failure: { code: 'TXN_ABORTED', message: `the order's transaction was aborted by ${decision.by} at ${decision.at}` } },
          );
          if (ended) pass.ended++;
        } catch (err) {
          pass.failed++;
          logger.warn({ err, orderId: order.id }, 'could not recover a pending 2PC order');
        }
      });
    }
    return pass;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.recoverOnce()
        .then((pass) => {
          if (pass.sagasStarted + pass.ended + pass.failed > 0) this.#o.logger.info(pass, 'order recovery pass');
        })
        .catch((err: unknown) => this.#o.logger.warn({ err }, 'order recovery pass failed'))
        .finally(() => this.#schedule());
    }, this.#o.intervalMs ?? 1_000);
    this.#timer.unref();
  }
}

/** Runs fn over items with at most `limit` in flight; resolves when all have settled. */
async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
