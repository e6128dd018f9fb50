// The contract of Shoal's distributed transactions, fixed before the implementation so the saga
// orchestrator, two-phase commit and the shop's orders service can be built side by side. Change
// only together with every user. (Issue 6; DESIGN section 5.)

/** A global transaction id: `[A-Za-z0-9_.:-]{1,128}`, unique per order attempt. */
export type Gid = string;

/**
 * Every branch call (a saga step or its compensation, a 2PC prepare/commit/abort) carries these
 * params besides its own, so the participant can record them in its barrier table in the same
 * local transaction as its business change.
 */
export interface BranchParams {
  gid: Gid;
  /** The branch within the transaction, e.g. `01-reserve-g_123`; stable across retries. */
  branch: string;
}

/** Operations a barrier records. */
export type BarrierOp = 'action' | 'compensate' | 'prepare' | 'commit' | 'abort';

/**
 * What the barrier tells the participant to do:
 * - `proceed`: first time; do the business change in this same local transaction.
 * - `duplicate`: this (gid, branch, op) already ran; do nothing, answer success again.
 * - `null-compensation`: a compensation arrived before its action ever ran; do nothing, answer
 *   success (and the barrier now blocks that action forever).
 * - `hanging`: an action arrived after its compensation; do nothing, answer the action as failed
 *   (ShoalError `BRANCH_COMPENSATED`, not retryable).
 */
export type BarrierOutcome = 'proceed' | 'duplicate' | 'null-compensation' | 'hanging';

/** One saga step: an action and its compensation on some service, with their params. */
export interface SagaStep {
  /** Unique within the saga; becomes the branch id. */
  name: string;
  /** Fully qualified action, e.g. `goods.reserve`. */
  action: string;
  /** Fully qualified compensation, e.g. `goods.release`. */
  compensation: string;
  /** The action's own params; the orchestrator adds BranchParams. */
  params: Record<string, unknown>;
  /** The compensation's own params (default: the action's). */
  compensationParams?: Record<string, unknown>;
}

export interface SagaSpec {
  gid: Gid;
  /** What the saga is for (e.g. `order.place`), for logs and recovery dispatch. */
  kind: string;
  steps: SagaStep[];
  /** Opaque JSON kept in the saga log, handed back on completion (e.g. the order id). */
  payload?: Record<string, unknown>;
}

export type SagaResult =
  | { gid: Gid; status: 'committed' }
  | { gid: Gid; status: 'aborted'; failedStep: string; error: { code: string; message: string } };

/** The 2PC decision record at `/shoal/txn/<gid>` in the coordinator (JSON). */
export interface TxnDecision {
  gid: Gid;
  decision: 'commit' | 'abort';
  /** Instance id of whoever wrote it (the coordinator, or a recoverer presuming abort). */
  by: string;
  /** ISO time. */
  at: string;
}

/** One 2PC participant branch: three actions on one service. */
export interface TwoPcBranch {
  name: string;
  /** e.g. `goods.prepareReserve`: durably reserve and answer ok, or refuse (business error). */
  prepare: string;
  /** e.g. `goods.commitReserve`: make the prepared change final. Must succeed once prepared. */
  commit: string;
  /** e.g. `goods.abortReserve`: undo a prepare, or a no-op if it never prepared (barrier). */
  abort: string;
  params: Record<string, unknown>;
}

export interface TwoPcSpec {
  gid: Gid;
  kind: string;
  branches: TwoPcBranch[];
  payload?: Record<string, unknown>;
}

export type TwoPcResult =
  | { gid: Gid; status: 'committed' }
  | { gid: Gid; status: 'aborted'; failedBranch?: string; error: { code: string; message: string } };
