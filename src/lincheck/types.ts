// Shapes shared by the checker and its models.
//
// A history is a set of operations, each an interval [call, return] of some clock the caller
// chose. The checker never reads a clock itself: times are data.

/** Stands for the output of an operation whose outcome the client never learned. */
export const UNKNOWN: unique symbol = Symbol('lincheck.unknown');
export type Unknown = typeof UNKNOWN;

export interface Operation<I = unknown, O = unknown> {
  clientId: number | string;
  input: I;
  /** Ignored (treated as UNKNOWN) when `return` is Infinity. */
  output: O | Unknown;
  call: number;
  /**
   * Infinity: the outcome is unknown (timed out, connection lost). The operation may have taken
   * effect at any moment after `call`, or never.
   */
  return: number;
}

export interface StepResult<S> {
  ok: boolean;
  state: S;
}

export interface Partition<I, O> {
  key: string;
  ops: Operation<I, O>[];
}

/**
 * A sequential specification. `step` must be a pure function; with `output === UNKNOWN` it must
 * accept (ok: true) and return the state the operation would leave behind had it taken effect.
 */
export interface Model<S, I, O> {
  name: string;
  init(): S;
  step(state: S, input: I, output: O | Unknown): StepResult<S>;
  /** Split into independent sub-histories (P-compositionality), e.g. one per key. */
  partition?(ops: Operation<I, O>[]): Partition<I, O>[];
  /** 32-bit hash; equal states must hash equal. */
  hash(state: S): number;
  equal(a: S, b: S): boolean;
  /** One operation, readably, e.g. `put(3)` or `get() -> 3`. */
  describe(input: I, output: O | Unknown): string;
  /** Read-only operations with an unknown outcome constrain nothing and are dropped up front. */
  readOnly?(input: I): boolean;
  describeState?(state: S): string;
}

export type Outcome = 'ok' | 'illegal' | 'unknown';

export interface SearchBound {
  /** Maximum search steps per partition (one step = one attempted linearization). */
  maxSteps?: number;
  /** A wall-clock bound, with the clock passed in (the checker owns none). */
  deadline?: { now: () => number; at: number };
}

export interface PartitionResult {
  key: string;
  outcome: Outcome;
  ops: number;
  steps: number;
}

export interface Failure<I, O> {
  key: string;
  /** The whole failing partition. */
  history: Operation<I, O>[];
  /** A small subset of `history` that still cannot be linearized (see minimize.ts). */
  minimal: Operation<I, O>[];
  /** The operations in `minimal` at whose return the history stopped being linearizable. */
  culprits: Operation<I, O>[];
  /** `minimal`, printed for a human. */
  text: string;
}

export interface CheckResult<I, O> {
  outcome: Outcome;
  partitions: PartitionResult[];
  failure?: Failure<I, O>;
}
