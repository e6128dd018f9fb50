// Shrinking a non-linearizable partition to a small witness a human can read.
//
// 1. The earliest failing cut. The history "as of time T" keeps operations that returned by T
//    and turns those still in flight at T into unknown outcomes. Cuts are monotone (a cut of a
//    linearizable history is linearizable: drop every operation linearized after T), so the
//    first failing T is found by bisection over return times. The operations returning at that
//    T are the culprits: without them the cut is linearizable.
// 2. Delta-debugging removals of the other operations. A removal is kept only if the rest still
//    fails, is still linearizable without the culprits (the violation stays the culprits' own,
//    not one the removal created, e.g. by dropping the only concurrent write a read needed),
//    and every operation whose output was explainable stays explainable (otherwise "stale read
//    after a newer write" would collapse to a lone read of a value nobody wrote).

import { decide, explainable } from './decide.js';
import { isPending } from './search.js';
import { UNKNOWN, type Model, type Operation } from './types.js';

export interface MinimizeOptions {
  /** Steps per individual search while shrinking. */
  maxSteps?: number;
  /** Search steps allowed in total; the result is simply less minimal when exhausted. */
  maxTotalSteps?: number;
}

export interface Witness<I, O> {
  /** Original operations, in call order. */
  ops: Operation<I, O>[];
  /** The first time at which the history could no longer be linearized. */
  cut: number;
  /** Those that returned at `cut`. */
  culprits: Operation<I, O>[];
  /** Still in flight at `cut`: the witness treats their outcomes as unknown. */
  inFlight: Operation<I, O>[];
}

export function minimizeFailure<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  options: MinimizeOptions = {},
): Witness<I, O> {
  let budget = options.maxTotalSteps ?? 20_000_000;
  const outcome = (sub: Operation<I, O>[]) => {
    const r = decide(model, sub, { maxSteps: Math.max(1, Math.min(budget, options.maxSteps ?? 500_000)) });
    budget -= r.steps;
    return r.outcome;
  };
  const original = new Map<Operation<I, O>, Operation<I, O>>();
  const cutAt = (t: number): Operation<I, O>[] =>
    ops
      .filter((op) => op.call <= t)
      .map((op) => {
        if (op.return <= t) return op;
        const unknown: Operation<I, O> = { ...op, output: UNKNOWN, return: Infinity };
        original.set(unknown, op);
        return unknown;
      });

  const returns = [...new Set(ops.filter((op) => !isPending(op)).map((op) => op.return))].sort((a, b) => a - b);
  const everything = { ops: [...ops].sort((a, b) => a.call - b.call), cut: Infinity, culprits: [], inFlight: [] };
  if (returns.length === 0) return everything;
  // Invariant: the cut at returns[hi] fails; it does at the last return if the whole history does,
  // since operations called after every return can all be linearized last.
  let lo = -1;
  let hi = returns.length - 1;
  while (hi - lo > 1 && budget > 0) {
    const mid = (lo + hi) >>> 1;
    if (outcome(cutAt(returns[mid]!)) === 'illegal') hi = mid;
    else lo = mid;
  }
  const cut = returns[hi]!;
  let current = cutAt(cut).sort((a, b) => a.call - b.call);
  if (outcome(current) !== 'illegal') return everything;
  const culprits = new Set(current.filter((op) => op.return === cut));

  const mustStayExplainable = explainable(model, current);
  const acceptable = (sub: Operation<I, O>[]): boolean => {
    const now = explainable(model, sub);
    for (const op of sub) if (mustStayExplainable.has(op) && !now.has(op)) return false;
    if (outcome(sub) !== 'illegal') return false;
    return outcome(sub.filter((op) => !culprits.has(op))) === 'ok';
  };
  for (let chunk = Math.max(1, current.length >>> 1); chunk >= 1 && budget > 0; chunk >>>= 1) {
    let removedAny = true;
    while (removedAny && budget > 0) {
      removedAny = false;
      for (let start = 0; start < current.length && budget > 0; start += chunk) {
        const removed = current.slice(start, start + chunk);
        if (removed.some((op) => culprits.has(op))) continue;
        const candidate = [...current.slice(0, start), ...current.slice(start + chunk)];
        if (acceptable(candidate)) {
          current = candidate;
          removedAny = true;
          start -= chunk;
        }
      }
    }
  }
  return {
    ops: current.map((op) => original.get(op) ?? op),
    cut,
    culprits: [...culprits],
    inFlight: current.filter((op) => original.has(op)).map((op) => original.get(op)!),
  };
}
