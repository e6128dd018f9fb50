// The goods service: action definitions over a GoodsStore opened at start.
import { defineService, type ServiceDefinition } from '../../index.js';
import { serviceDbPath, storeClosed } from '../common/index.js';
import { startParticipantResolver, type Etcd3 } from '../common/txn.js';
import {
  CreateGoodsParams,
  GetGoodsParams,
  Goods,
  GoodsPage,
  ListGoodsParams,
  Release,
  ReleaseParams,
  Reservation,
  ReserveBranchResult,
  PrepareReserveParams,
  FinishReserveParams,
  ReserveParams,
  SagaReleaseParams,
  SagaReserveParams,
  UpdateGoodsParams,
} from './schemas.js';
import { GoodsStore, type GoodsStoreOptions } from './store.js';

export const GOODS_SERVICE = 'goods';
export const GOODS_VERSION = '1.0.0';

export interface GoodsServiceOptions {
  /** Environment read at start: SHOAL_DATA_DIR. */
  env?: NodeJS.ProcessEnv;
  /** Database file; default `<host.dataDir, i.e. SHOAL_DATA_DIR>/goods.db`. */
  file?: string;
  /**
   * Coordinator client for the 2PC in-doubt resolver (owned by the caller); default: one from
   * SHOAL_COORD in env (closed at stop). Without either, no resolver runs.
   */
  coord?: Etcd3;
  /** In-doubt resolver: branches prepared this long ago are finished by the stored decision. */
  inDoubt?: { olderThanMs?: number; intervalMs?: number };
  store?: GoodsStoreOptions;
}

export function createGoodsService(options: GoodsServiceOptions = {}): ServiceDefinition {
  const env = options.env ?? process.env;
  let store: GoodsStore | undefined;
  let stopResolver: (() => Promise<void>) | undefined;
  const open = (): GoodsStore => {
    if (!store) throw storeClosed(GOODS_SERVICE);
    return store;
  };

  return defineService({
    name: GOODS_SERVICE,
    version: GOODS_VERSION,
    actions: {
      create: {
        description: 'Add goods: name, price in integer cents, stock.',
        params: CreateGoodsParams,
        result: Goods,
        handler: (ctx) => open().create(ctx.params),
      },
      get: {
        description: 'Goods by id. NOT_FOUND if there are none.',
        params: GetGoodsParams,
        result: Goods,
        idempotent: true,
        // ctx.params passed GetGoodsParams in the runtime: the store need not parse them again.
        handler: (ctx) => open().getById(ctx.params.id),
      },
      list: {
        description: 'A page of goods in id order (limit 1–100, default 20); pass nextCursor back as cursor.',
        params: ListGoodsParams,
        result: GoodsPage,
        idempotent: true,
        handler: (ctx) => open().list(ctx.params),
      },
      update: {
        description: 'Change name, price and/or stock (at least one). NOT_FOUND if there are none.',
        params: UpdateGoodsParams,
        result: Goods,
        // Sets absolute values, yet not safe to repeat: a retry landing after a reservation or
        // another admin's change would undo it (stock would appear from nowhere).
        idempotent: false,
        handler: (ctx) => open().update(ctx.params),
      },
      reserve: {
        description:
          'Take qty from the stock, at most once per requestId. OUT_OF_STOCK if there is less; IDEMPOTENCY_CONFLICT for a reused requestId with another qty; ALREADY_RELEASED if that requestId was released.',
        params: ReserveParams,
        result: Reservation,
        // The required requestId makes a repeat a no-op.
        idempotent: true,
        handler: (ctx) => open().reserve(ctx.params),
      },
      release: {
        description:
          'Put back what the reservation with this requestId took, once. Before its reservation it records the release (released: 0), and that reservation is then refused (ALREADY_RELEASED).',
        params: ReleaseParams,
        result: Release,
        idempotent: true,
        handler: (ctx) => open().release(ctx.params),
      },
      sagaReserve: {
        description:
          'Saga step of an order: reserve qty for branch (gid, branch), once, with the barrier in the same transaction. OUT_OF_STOCK refuses; BRANCH_COMPENSATED if the branch was compensated already.',
        params: SagaReserveParams,
        result: ReserveBranchResult,
        idempotent: true,
        handler: (ctx) => open().sagaReserve(ctx.params),
      },
      sagaRelease: {
        description: 'Compensation of sagaReserve: put back what the branch took, once; a no-op success if it never ran (and it never will).',
        params: SagaReleaseParams,
        result: ReserveBranchResult,
        idempotent: true,
        handler: (ctx) => open().sagaRelease(ctx.params),
      },
      prepareReserve: {
        description: '2PC phase one of an order: take qty into a reservation held for (gid, branch), durably. OUT_OF_STOCK refuses; BRANCH_COMPENSATED if the branch was aborted already.',
        params: PrepareReserveParams,
        result: ReserveBranchResult,
        idempotent: true,
        handler: (ctx) => open().prepareReserve(ctx.params),
      },
      commitReserve: {
        description: '2PC commit: the held reservation becomes final. Idempotent.',
        params: FinishReserveParams,
        result: ReserveBranchResult,
        idempotent: true,
        handler: (ctx) => open().commitReserve(ctx.params),
      },
      abortReserve: {
        description: '2PC abort: put the held stock back; a no-op success if the branch never prepared (and then it never will). Idempotent.',
        params: FinishReserveParams,
        result: ReserveBranchResult,
        idempotent: true,
        handler: (ctx) => open().abortReserve(ctx.params),
      },
    },
    started(host) {
      const s = (store ??= GoodsStore.open(options.file ?? serviceDbPath(GOODS_SERVICE, host.dataDir ?? env.SHOAL_DATA_DIR), options.store));
      stopResolver = startParticipantResolver({
        coord: options.coord,
        env,
        instanceId: host.instanceId,
        logger: host.logger,
        inDoubt: options.inDoubt,
        create: (o) => s.inDoubtResolver(o),
      });
    },
    async stopped() {
      const stop = stopResolver;
      stopResolver = undefined;
      await stop?.();
      const s = store;
      store = undefined;
      await s?.close();
    },
  });
}
