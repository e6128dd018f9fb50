// The orders service: action definitions over an OrdersStore, the saga orchestrator and (with a
// coordinator) the two-phase commit coordinator, all opened at start, with their recovery.
import { defineService, type ServiceDefinition } from '../../index.js';
import { notFound, serviceDbPath, storeClosed } from '../common/index.js';
import {
  SagaOrchestrator,
  TwoPhaseCoordinator,
  coordClientFromEnv,
  migrateSagaSqlite,
  type Etcd3,
  type RecoveryLock,
} from '../common/txn.js';
import { OrderPlacer } from './placer.js';
import { OrderRecovery } from './recovery.js';
import { GetOrderParams, ListOrdersParams, Order, OrderUser, OrderWithUser, OrdersPage, PlaceOrderParams } from './schemas.js';
import { outcomeOf, ORDER_TXN_KIND } from './specs.js';
import { OrdersStore, type OrdersStoreOptions } from './store.js';

export const ORDERS_SERVICE = 'orders';
export const ORDERS_VERSION = '1.0.0';

export interface OrdersServiceOptions {
  /** Environment read at start: SHOAL_DATA_DIR, SHOAL_COORD. */
  env?: NodeJS.ProcessEnv;
  /** Database file; default `<host.dataDir, i.e. SHOAL_DATA_DIR>/orders.db`. */
  file?: string;
  store?: OrdersStoreOptions;
  /**
   * Coordinator client (owned by the caller) for 2PC decisions and the saga recovery lock;
   * default: one from SHOAL_COORD (closed at stop). Without either, mode '2pc' is refused and
   * saga recovery runs without a lock (the saga log's claims still keep drivers apart).
   */
  coord?: Etcd3;
  saga?: { leaseMs?: number; stepTimeoutMs?: number; actionAttempts?: number; recoveryIntervalMs?: number };
  twopc?: { phaseTimeoutMs?: number; callTimeoutMs?: number; leaseTtlSeconds?: number };
  recovery?: { staleAfterMs?: number; intervalMs?: number };
}

interface Running {
  store: OrdersStore;
  placer: OrderPlacer;
  saga: SagaOrchestrator;
  twopc: TwoPhaseCoordinator | undefined;
  stopSagaRecovery: () => Promise<void>;
  recovery: OrderRecovery;
  ownedCoord: Etcd3 | undefined;
}

export function createOrdersService(options: OrdersServiceOptions = {}): ServiceDefinition {
  const env = options.env ?? process.env;
  let running: Running | undefined;
  const open = (): Running => {
    if (!running) throw storeClosed(ORDERS_SERVICE);
    return running;
  };

  return defineService({
    name: ORDERS_SERVICE,
    version: ORDERS_VERSION,
    actions: {
      place: {
        description:
          "Place an order for userId: items [{goodsId, qty}] (1–20 distinct goods, qty 1–1000) at today's prices, paid from the wallet, by a saga (default) or 2PC. " +
          'The answer is the ended order: confirmed, or failed with the reason (OUT_OF_STOCK, INSUFFICIENT_FUNDS, …). ' +
          'Once per (userId, idempotencyKey): a repeat returns the same order (waiting for it to end); the key with another request is IDEMPOTENCY_CONFLICT.',
        params: PlaceOrderParams,
        result: Order,
        // The required idempotencyKey makes a repeat return the same order.
        idempotent: true,
        timeoutMs: 15_000,
        // The runtime parsed ctx.params with PlaceOrderParams: the placer does not parse them again.
        handler: (ctx) => open().placer.placeParsed(ctx, ctx.params),
      },
      get: {
        description: 'An order joined with its user (from the users service). With userId, an order of someone else is NOT_FOUND.',
        params: GetOrderParams,
        result: OrderWithUser,
        idempotent: true,
        handler: async (ctx) => {
          const { id, userId } = ctx.params;
          const order = await open().store.get(id);
          if (order === undefined || (userId !== undefined && order.userId !== userId)) throw notFound('order', id);
          const user = OrderUser.parse(await ctx.call('users.get', { id: order.userId }, { idempotent: true }));
          return { order, user };
        },
      },
      list: {
        description: "A user's orders, newest first (limit 1–100, default 20); pass nextCursor back as cursor.",
        params: ListOrdersParams,
        result: OrdersPage,
        idempotent: true,
        handler: (ctx) => open().store.list(ctx.params),
      },
    },
    async started(host) {
      if (running) return;
      const store = OrdersStore.open(options.file ?? serviceDbPath(ORDERS_SERVICE, host.dataDir ?? env.SHOAL_DATA_DIR), options.store, migrateSagaSqlite);
      let ownedCoord: Etcd3 | undefined;
      try {
        // The outbox lives in this database, so an order's end and its event commit together.
        await host.useDatabase(store.db.kysely);
        ownedCoord = options.coord === undefined ? coordClientFromEnv(env) : undefined;
        const coord = options.coord ?? ownedCoord;
        const saga = new SagaOrchestrator({
          db: store.db.sqlite,
          caller: host,
          instanceId: host.instanceId,
          logger: host.logger,
          ...options.saga,
          // The saga log's writes join the database's group commits (one fsync for many sagas).
          exclusive: (fn) => store.db.transaction(() => fn()),
        });
        saga.onFinished(ORDER_TXN_KIND, (result, payload, db) => {
          const orderId = payload.orderId;
          if (typeof orderId !== 'string') throw new Error(`invariant: order saga ${result.gid} has no orderId in its payload`);
          store.finishOn(db, orderId, outcomeOf(result));
        });
        const twopc = coord === undefined ? undefined : new TwoPhaseCoordinator({ caller: host, coord, instanceId: host.instanceId, logger: host.logger, ...options.twopc });
        if (coord === undefined) host.logger.warn('no coordinator (SHOAL_COORD unset): 2PC orders are refused; saga recovery runs without a lock');
        const stopSagaRecovery = saga.startRecovery({
          name: ORDERS_SERVICE,
          ...(coord !== undefined ? { etcd: coord } : { lock: async () => processLocalLock() }),
          ...(options.saga?.recoveryIntervalMs !== undefined ? { scanIntervalMs: options.saga.recoveryIntervalMs } : {}),
        });
        const recovery = new OrderRecovery({ store, saga, coord, instanceId: host.instanceId, logger: host.logger, ...options.recovery });
        recovery.start();
        const placer = new OrderPlacer({ store, saga, twopc, logger: host.logger });
        running = { store, placer, saga, twopc, stopSagaRecovery, recovery, ownedCoord };
      } catch (err) {
        // A failed start gets no stopped() call: close here.
        ownedCoord?.close();
        await store.close();
        throw err;
      }
    },
    async stopped() {
      const r = running;
      running = undefined;
      if (!r) return;
      await r.recovery.stop();
      await r.stopSagaRecovery();
      r.saga.close();
      await r.twopc?.close();
      r.ownedCoord?.close();
      await r.store.close();
    },
  });
}

/** Without a coordinator: a lock that is always held (the saga log's claims keep drivers apart). */
function processLocalLock(): RecoveryLock {
  const lost = new AbortController();
  return {
    lost: lost.signal,
    isHeld: () => !lost.signal.aborted,
    release: async () => lost.abort(),
  };
}
