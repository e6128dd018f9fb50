// The entry point: partition, search each partition, and explain the first failure.

import { formatHistory } from './format.js';
import { decide } from './decide.js';
import { minimizeFailure, type MinimizeOptions, type Witness } from './minimize.js';
import { isPending } from './search.js';
import type { CheckResult, Model, Operation, Outcome, PartitionResult, SearchBound } from './types.js';

export interface CheckOptions extends SearchBound {
  /** Shrink the first failing partition to a minimal witness (default true). */
  minimize?: boolean;
  minimizeOptions?: MinimizeOptions;
}

function validate(ops: Operation<unknown, unknown>[]): void {
  for (const op of ops) {
    if (!Number.isFinite(op.call)) throw new Error(`lincheck: call time must be finite (client ${String(op.clientId)})`);
    if (!(op.return >= op.call)) {
      throw new Error(`lincheck: operation of client ${String(op.clientId)} returns at ${op.return} before its call at ${op.call}`);
    }
  }
}

export function check<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  validate(history as Operation<unknown, unknown>[]);
  const ops = model.readOnly ? history.filter((op) => !(isPending(op) && model.readOnly!(op.input))) : history;
  const parts = model.partition ? model.partition(ops) : [{ key: '', ops }];
  const partitions: PartitionResult[] = [];
  let failing: { key: string; ops: Operation<I, O>[] } | undefined;
  let outcome: Outcome = 'ok';
  for (const part of parts) {
    const r = decide(model, part.ops, options);
    partitions.push({ key: part.key, outcome: r.outcome, ops: part.ops.length, steps: r.steps });
    if (r.outcome === 'illegal') {
      outcome = 'illegal';
      failing ??= part;
    } else if (r.outcome === 'unknown' && outcome === 'ok') {
      outcome = 'unknown';
    }
  }
  if (!failing) return { outcome, partitions };

  const witness: Witness<I, O> =
    options.minimize === false
      ? { ops: failing.ops, cut: Infinity, culprits: [], inFlight: [] }
      : minimizeFailure(model, failing.ops, options.minimizeOptions);
  const notes = new Map<Operation<I, O>, string>();
  for (const op of witness.inFlight) notes.set(op, `still in flight at ${witness.cut}: outcome taken as unknown`);
  for (const op of witness.culprits) notes.set(op, 'cannot be linearized');
  const where = failing.key === '' ? model.name : `${model.name} key ${JSON.stringify(failing.key)}`;
  const text =
    `${where}: these ${witness.ops.length} operations (of ${failing.ops.length}) cannot be linearized` +
    (witness.cut === Infinity ? ':\n' : ` (first at time ${witness.cut}):\n`) +
    formatHistory(model, witness.ops, notes);
  return { outcome, partitions, failure: { key: failing.key, history: failing.ops, minimal: witness.ops, culprits: witness.culprits, text } };
}
