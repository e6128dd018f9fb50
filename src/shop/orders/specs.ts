// An order as a distributed transaction: the saga's steps and the 2PC branches, built only from
// the stored order (items in goods order, the stored prices and total), so every instance that
// runs or resumes an order's transaction builds exactly the same one — the saga orchestrator
// refuses a gid reused with other steps.
import type { SagaResult, SagaSpec, SagaStep, TwoPcBranch, TwoPcResult, TwoPcSpec } from '../common/txn.js';
import type { Order } from './schemas.js';
import type { Outcome } from './store.js';

export const ORDER_TXN_KIND = 'order.place';

const TXN_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

function assertGoodsOrder(order: Order): void {
  for (let i = 1; i < order.items.length; i++) {
    if (!(order.items[i - 1]!.goodsId < order.items[i]!.goodsId)) throw new Error(`invariant: items of order ${order.id} are not in goods order`);
  }
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

function branchNames(order: Order): { reserve: string[]; debit: string } {
  assertGoodsOrder(order);
  // The goods id makes a branch readable in logs and barrier rows; the number keeps it unique.
  const reserve = order.items.map((item, i) => `${pad(i + 1)}-reserve${TXN_ID.test(item.goodsId) ? `-${item.goodsId}` : ''}`);
  return { reserve, debit: `${pad(order.items.length + 1)}-debit` };
}

/** Reserve each goods item in turn, then debit the wallet with the total; compensations release / refund. */
export function sagaSpec(order: Order): SagaSpec {
  const names = branchNames(order);
  const steps: SagaStep[] = order.items.map((item, i) => ({
    name: names.reserve[i]!,
    action: 'goods.sagaReserve',
    compensation: 'goods.sagaRelease',
    params: { id: item.goodsId, qty: item.qty },
  }));
  // A free order (every price 0) takes no money: the debit action refuses an amount of 0.
  if (order.total > 0) {
    steps.push({ name: names.debit, action: 'users.sagaDebit', compensation: 'users.sagaRefund', params: { id: order.userId, amount: order.total } });
  }
  return { gid: order.id, kind: ORDER_TXN_KIND, steps, payload: { orderId: order.id } };
}

/** One prepareReserve branch per goods item and one prepareDebit branch. */
export function twoPcSpec(order: Order): TwoPcSpec {
  const names = branchNames(order);
  const branches: TwoPcBranch[] = order.items.map((item, i) => ({
    name: names.reserve[i]!,
    prepare: 'goods.prepareReserve',
    commit: 'goods.commitReserve',
    abort: 'goods.abortReserve',
    params: { id: item.goodsId, qty: item.qty },
  }));
  if (order.total > 0) {
    branches.push({ name: names.debit, prepare: 'users.prepareDebit', commit: 'users.commitDebit', abort: 'users.abortDebit', params: { id: order.userId, amount: order.total } });
  }
  return { gid: order.id, kind: ORDER_TXN_KIND, branches, payload: { orderId: order.id } };
}

/** What an ended transaction means for its order. */
export function outcomeOf(result: SagaResult | TwoPcResult): Outcome {
  if (result.status === 'committed') return { status: 'confirmed' };
  return { status: 'failed', failure: { code: result.error.code, message: result.error.message } };
}
