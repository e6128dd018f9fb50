// Placing an order: idempotency by (user, Idempotency-Key), prices from goods at order time, the
// pending order written locally, then the distributed transaction (saga by default, or 2PC), and
// the order ended with its event. A repeat of the same request returns the same order, waiting
// for it to end; the same key with another request is IDEMPOTENCY_CONFLICT.
import type { Logger } from 'pino';
import { ErrorCode, ShoalError, type Context } from '../../index.js';
import { ShopErrorCode, invalidArgument, notFound, parseInput, shopError } from '../common/index.js';
import type { SagaOrchestrator, TwoPhaseCoordinator } from '../common/txn.js';
import { MAX_ORDER_TOTAL_CENTS, PlaceOrderParams, type Order, type PlaceOrderParsed } from './schemas.js';
import { outcomeOf, sagaSpec, twoPcSpec } from './specs.js';
import { orderTotal, requestHash, type OrdersStore } from './store.js';

/** Longest a request waits for its order to end when the caller set no deadline. */
const MAX_WAIT_MS = 30_000;
/** Left of the caller's budget for the answer itself. */
const ANSWER_MARGIN_MS = 100;

export interface PlacerOptions {
  store: OrdersStore;
  saga: SagaOrchestrator;
  /** Absent without a coordinator: 2PC orders are then refused (FAILED_PRECONDITION). */
  twopc: TwoPhaseCoordinator | undefined;
  logger: Logger;
}

type Caller = Pick<Context, 'call' | 'remainingMs'>;

export class OrderPlacer {
  readonly #o: PlacerOptions;
  /** 2PC orders this instance is driving: repeats of their request wait on them. */
  readonly #driving = new Map<string, Promise<Order>>();

  constructor(options: PlacerOptions) {
    this.#o = options;
  }

  async place(ctx: Caller, input: PlaceOrderParams): Promise<Order> {
    return this.placeParsed(ctx, parseInput(PlaceOrderParams, input));
  }

  /** place for params already parsed with PlaceOrderParams (the action's: the runtime parsed them). */
  async placeParsed(ctx: Caller, p: PlaceOrderParsed): Promise<Order> {
    const { store } = this.#o;
    const hash = requestHash(p.mode, p.items);
    const known = await store.findByKey(p.userId, p.idempotencyKey);
    if (known !== undefined) return this.#replay(ctx, known, hash);
    if (p.mode === '2pc' && this.#o.twopc === undefined) {
      throw new ShoalError({ code: 'FAILED_PRECONDITION', message: 'two-phase commit needs a coordinator (SHOAL_COORD); use mode saga', retryable: false });
    }

    // The price at order time: what goods says now. Unknown goods refuse the order before it exists.
    const prices = await Promise.all(
      p.items.map(async (item) => {
        const goods = await ctx.call<{ id: string; price: number }>('goods.get', { id: item.goodsId }, { idempotent: true });
        if (!Number.isSafeInteger(goods.price) || goods.price < 0) throw new Error(`invariant: goods ${item.goodsId} has price ${goods.price}`);
        return goods.price;
      }),
    );
    const items = p.items.map((item, i) => ({ goodsId: item.goodsId, qty: item.qty, price: prices[i]! }));
    const total = orderTotal(items);
    if (total > MAX_ORDER_TOTAL_CENTS) throw invalidArgument(`order total ${total} cents is above the limit of ${MAX_ORDER_TOTAL_CENTS}`, { total });

    // A saga order's saga is recorded in the same commit as the order: one fsync, and no order
    // without its saga after a crash.
    const created = await store.createPending({ userId: p.userId, idempotencyKey: p.idempotencyKey, requestHash: hash, mode: p.mode, items }, (order) => {
      if (order.mode === 'saga' && !this.#o.saga.record(sagaSpec(order))) throw new Error(`invariant: saga ${order.id} exists before its order`);
    });
    // A concurrent request with the same key won the insert: this one is its repeat.
    if (!created.created) return this.#replay(ctx, created, hash);
    const drive = this.#drive(created.order);
    // The transaction goes on whatever happens to this call; past the caller's budget the answer
    // is the order as it is (pending), which a repeat of the request or orders.get picks up later.
    const budget = Math.min(ctx.remainingMs() - ANSWER_MARGIN_MS, MAX_WAIT_MS);
    drive.catch((err: unknown) => this.#o.logger.warn({ err, orderId: created.order.id }, 'order transaction did not end; recovery will'));
    return (await withBudget(drive, Math.max(budget, 0))) ?? this.#get(created.order.id);
  }

  /** Runs the order's transaction to its end (the live path). */
  async #drive(order: Order): Promise<Order> {
    if (order.mode === 'saga') {
      // onFinished (in the saga's terminal transaction) ends the order; the result is only logged.
      const result = await this.#o.saga.run(sagaSpec(order));
      this.#o.logger.debug({ orderId: order.id, status: result.status }, 'order saga ended');
      return this.#ended(order.id);
    }
    const twopc = this.#o.twopc;
    if (twopc === undefined) throw new Error('invariant: a 2PC order without a coordinator');
    const run = (async () => {
      const result = await twopc.run(twoPcSpec(order));
      // Crash here and the recovery loop ends the order from the stored decision.
      await this.#o.store.finish(order.id, outcomeOf(result));
      return this.#ended(order.id);
    })();
    this.#driving.set(order.id, run);
    try {
      return await run;
    } finally {
      this.#driving.delete(order.id);
    }
  }

  /** The same key again: the same order once it has ended (or as it is when the budget runs out). */
  async #replay(ctx: Caller, known: { orderId: string; requestHash: string }, hash: string): Promise<Order> {
    if (known.requestHash !== hash) {
      throw shopError(ShopErrorCode.IDEMPOTENCY_CONFLICT, 'this Idempotency-Key was used for another order request', { orderId: known.orderId });
    }
    const order = await this.#get(known.orderId);
    if (order.status !== 'pending') return order;
    const budget = Math.min(ctx.remainingMs() - ANSWER_MARGIN_MS, MAX_WAIT_MS);
    if (!(budget > 0)) return order;
    const done =
      order.mode === 'saga'
        ? // The same gid gives that saga's result: it waits for whoever drives it, and takes the
          // saga over if its driver's claim ran out.
          this.#o.saga.run(sagaSpec(order)).then(() => this.#ended(order.id))
        : (this.#driving.get(order.id) ?? this.#poll(order.id, budget));
    return (await withBudget(done, budget)) ?? this.#get(order.id);
  }

  /** Polls the shared database until another instance ends the order. */
  async #poll(orderId: string, budget: number): Promise<Order> {
    const until = Date.now() + budget;
    for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
      const order = await this.#get(orderId);
      if (order.status !== 'pending' || Date.now() + delay > until) return order;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async #ended(orderId: string): Promise<Order> {
    const order = await this.#get(orderId);
    if (order.status === 'pending') {
      // The transaction ended but its order did not: possible only if ending it failed; recovery retries.
      throw new ShoalError({ code: ErrorCode.UNAVAILABLE, message: `order ${orderId} is still being finished`, retryable: true });
    }
    return order;
  }

  async #get(orderId: string): Promise<Order> {
    const order = await this.#o.store.get(orderId);
    if (order === undefined) throw notFound('order', orderId);
    return order;
  }
}

/** The promise's value, or undefined if it takes longer than `ms`. Its rejection propagates. */
async function withBudget<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
