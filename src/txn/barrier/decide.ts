// The barrier's decision, pure: which rows of (gid, branch, op) were already there and which the
// current request inserted → what the participant must do. Learned from dtm's branch barrier:
// a compensation (abort) first inserts its action's (prepare's) row as a placeholder. If that
// insert succeeds, the action never ran — a null compensation — and the placeholder now stops a
// late action from ever running (no hanging).
import type { BarrierOp, BarrierOutcome } from '../types.js';

/** The op whose effect a reverse op undoes; a reverse op inserts the origin's row first. */
export const BARRIER_ORIGIN: Readonly<Partial<Record<BarrierOp, BarrierOp>>> = { compensate: 'action', abort: 'prepare' };

/** The op that undoes an origin op: its row, present when the origin's own insert is ignored, means hanging. */
export const BARRIER_REVERSE: Readonly<Partial<Record<BarrierOp, BarrierOp>>> = { action: 'compensate', prepare: 'abort' };

export interface BarrierRows {
  op: BarrierOp;
  /**
   * compensate / abort only: the INSERT OR IGNORE of the origin's (action's / prepare's) row
   * inserted it — the origin never ran. Always false for other ops.
   */
  originInserted: boolean;
  /** The INSERT OR IGNORE of the op's own row inserted it. */
  ownInserted: boolean;
  /** action / prepare only: the reverse op's (compensate's / abort's) row existed. */
  reverseExisted: boolean;
}

export function decideBarrier(rows: BarrierRows): BarrierOutcome {
  const { op, originInserted, ownInserted, reverseExisted } = rows;
  const origin = BARRIER_ORIGIN[op];
  if (origin === undefined && originInserted) throw new Error(`barrier: ${op} has no origin row to insert`);
  if (BARRIER_REVERSE[op] === undefined && reverseExisted) throw new Error(`barrier: ${op} has no reverse op`);
  if (origin !== undefined) {
    // The first reverse request inserts the origin row before its own: a later one finds both.
    if (originInserted && !ownInserted) throw new Error(`barrier: ${op} row existed without its ${origin} row`);
    if (!ownInserted) return 'duplicate';
    return originInserted ? 'null-compensation' : 'proceed';
  }
  if (ownInserted) {
    // A reverse op always leaves this op's row behind, so a fresh insert means none ran.
    if (reverseExisted) throw new Error(`barrier: ${op} row inserted although its reverse already ran`);
    return 'proceed';
  }
  // The row was there: either this op ran (duplicate) or a reverse op placed it (hanging). An
  // action repeated after its own compensation is also refused: either way nothing may happen.
  return reverseExisted ? 'hanging' : 'duplicate';
}
