// Deciding one partition: a short search first, then a cheap reachability test, then the full
// search. Also the reachability helpers the shrinker uses.

import { DEFAULT_MAX_STEPS, isPending, searchPartition } from './search.js';
import { UNKNOWN, type Model, type Operation, type Outcome, type SearchBound } from './types.js';

const MAX_REACHABLE_STATES = 256;
/** Steps granted before trying the reachability test. */
const QUICK_STEPS = 20_000;

/** States reachable by any sequence of `ops` (with reuse); `complete` unless the cap was hit. */
export function reachable<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): { states: S[]; complete: boolean } {
  const states: S[] = [model.init()];
  const seen = new Map<number, S[]>([[model.hash(states[0]!), [states[0]!]]]);
  for (let i = 0; i < states.length; i++) {
    for (const op of ops) {
      const r = model.step(states[i]!, op.input, UNKNOWN);
      const h = model.hash(r.state);
      const bucket = seen.get(h) ?? [];
      if (bucket.some((s) => model.equal(s, r.state))) continue;
      bucket.push(r.state);
      seen.set(h, bucket);
      states.push(r.state);
      if (states.length >= MAX_REACHABLE_STATES) return { states, complete: false };
    }
  }
  return { states, complete: true };
}

/**
 * Operations whose output some reachable state (any order of the others, outcomes ignored,
 * real time ignored, reuse allowed) makes legal. An over-approximation of "could be explained".
 */
export function explainable<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): Set<Operation<I, O>> {
  const { states } = reachable(model, ops);
  const out = new Set<Operation<I, O>>();
  for (const op of ops) {
    if (isPending(op)) continue;
    if (states.some((s) => model.step(s, op.input, op.output).ok)) out.add(op);
  }
  return out;
}

/**
 * An output that no state reachable by any sequence of the partition's operations can produce
 * (a read of a value never written) makes the partition illegal without a search; the
 * exhaustive search would have to visit every interleaving to conclude the same.
 */
function impossibleOutput<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): boolean {
  const { states, complete } = reachable(model, ops);
  if (!complete) return false;
  return ops.some((op) => !isPending(op) && !states.some((s) => model.step(s, op.input, op.output).ok));
}

export function decide<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], bound: SearchBound): { outcome: Outcome; steps: number } {
  const maxSteps = bound.maxSteps ?? DEFAULT_MAX_STEPS;
  const quick = searchPartition(model, ops, { ...bound, maxSteps: Math.min(QUICK_STEPS, maxSteps) });
  if (quick.outcome !== 'unknown' || maxSteps <= QUICK_STEPS) return quick;
  if (impossibleOutput(model, ops)) return { outcome: 'illegal', steps: quick.steps };
  const full = searchPartition(model, ops, bound);
  return { outcome: full.outcome, steps: quick.steps + full.steps };
}
