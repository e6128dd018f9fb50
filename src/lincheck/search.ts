// The Wing–Gong search with Lowe's memoization, over one partition.
//
// Call and return events sit in one time-ordered doubly linked list. The search repeatedly tries
// to linearize a pending call that precedes the first return in the list ("minimal" calls); a
// linearized operation's call and return are lifted out of the list. Reaching a return whose
// call was never linearized means the current prefix order is a dead end, so the last choice is
// undone (unlifted) and the next candidate tried. (linearized set, state) pairs already explored
// are cached: reaching one again cannot lead anywhere new.
//
// Operations of unknown outcome return at Infinity, so they stay candidates until linearized.
// Candidates are tried in call order, unknown ones included: trying unknown outcomes last was
// measured to be far slower on simulator histories, where reads often observe writes whose
// clients gave up.

import { Bitset, mix32 } from './bitset.js';
import { UNKNOWN, type Model, type Operation, type Outcome, type SearchBound } from './types.js';

export const DEFAULT_MAX_STEPS = 5_000_000;

interface Entry {
  id: number;
  isCall: boolean;
  time: number;
  /** For a call: its return. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

export interface SearchResult {
  outcome: Outcome;
  steps: number;
  /** Most operations ever linearized at once: how far the search got. */
  deepest: number;
}

export function isPending(op: Operation<unknown, unknown>): boolean {
  return op.return === Infinity;
}

function buildList(ops: Operation<unknown, unknown>[]): Entry {
  const entries: Entry[] = [];
  ops.forEach((op, id) => {
    if (!(op.call <= op.return)) throw new Error(`lincheck: operation ${id} returns before its call`);
    const ret: Entry = { id, isCall: false, time: op.return, match: null, prev: null, next: null };
    entries.push({ id, isCall: true, time: op.call, match: ret, prev: null, next: null }, ret);
  });
  // Equal times count as overlapping (calls first): never order two operations the history
  // cannot tell apart. Ties among calls or returns break by id for determinism.
  entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: Entry = { id: -1, isCall: false, time: -Infinity, match: null, prev: null, next: null };
  let prev = head;
  for (const e of entries) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return head;
}

function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

export function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  bound: SearchBound = {},
): SearchResult {
  const maxSteps = bound.maxSteps ?? DEFAULT_MAX_STEPS;
  const head = buildList(ops as Operation<unknown, unknown>[]);
  const linearized = new Bitset(ops.length);
  const cache = new Map<number, { bits: Bitset; state: S }[]>();
  const stack: { call: Entry; state: S }[] = [];
  let state = model.init();
  let completedLeft = ops.filter((op) => !isPending(op)).length;
  let steps = 0;
  let deepest = 0;
  let entry = head.next;

  const remember = (s: S): boolean => {
    const key = (linearized.hash ^ mix32(model.hash(s) + 0x9e3779b9)) >>> 0;
    let bucket = cache.get(key);
    if (!bucket) cache.set(key, (bucket = []));
    for (const c of bucket) if (c.bits.equals(linearized) && model.equal(c.state, s)) return false;
    bucket.push({ bits: linearized.clone(), state: s });
    return true;
  };

  // Once every operation with a known outcome is linearized, the unknown ones can all be
  // placed after it (or be taken as never applied): nothing observes them.
  while (completedLeft > 0) {
    if (entry === null) throw new Error('lincheck: ran off the event list');
    if (++steps > maxSteps) return { outcome: 'unknown', steps, deepest };
    if ((steps & 1023) === 0 && bound.deadline && bound.deadline.now() >= bound.deadline.at) {
      return { outcome: 'unknown', steps, deepest };
    }
    if (entry.isCall) {
      const op = ops[entry.id]!;
      const pending = isPending(op);
      const r = model.step(state, op.input, pending ? UNKNOWN : op.output);
      if (r.ok) {
        linearized.set(entry.id);
        if (remember(r.state)) {
          stack.push({ call: entry, state });
          state = r.state;
          lift(entry);
          if (!pending) completedLeft--;
          if (stack.length > deepest) deepest = stack.length;
          entry = head.next;
          continue;
        }
        linearized.clear(entry.id);
      }
      entry = entry.next;
    } else {
      // A return at Infinity would mean every known outcome is linearized: the loop has ended.
      if (entry.time === Infinity) throw new Error('lincheck: reached an unknown-outcome return');
      const top = stack.pop();
      if (!top) return { outcome: 'illegal', steps, deepest };
      state = top.state;
      linearized.clear(top.call.id);
      unlift(top.call);
      if (!isPending(ops[top.call.id]!)) completedLeft++;
      entry = top.call.next;
    }
  }
  return { outcome: 'ok', steps, deepest };
}
