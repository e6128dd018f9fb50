// Txn compares as etcd's applier evaluates them, against the store before the txn writes.
import type { Compare, KeyValue } from '../types.js';
import { spanOf } from './keys.js';
import type { MvccStore } from './store.js';

const MISSING: KeyValue = Object.freeze({
  key: Buffer.alloc(0),
  createRevision: 0,
  modRevision: 0,
  version: 0,
  value: Buffer.alloc(0),
  lease: 0,
});

/**
 * True when every key in the compare's range passes. With no key in range, a VALUE compare
 * fails (there is no value to compare) and any other target compares against zero, so
 * "version = 0" or "create = 0" tests that a key does not exist.
 */
export function applyCompare(store: MvccStore, c: Compare, atRev: number): boolean {
  let any = false;
  let ok = true;
  store.scan(spanOf(c.key, c.rangeEnd), atRev, (kv) => {
    any = true;
    if (ok && !compareKv(c, kv)) ok = false;
  });
  if (!any) return c.target === 'VALUE' ? false : compareKv(c, MISSING);
  return ok;
}

function compareKv(c: Compare, kv: KeyValue): boolean {
  let result: number;
  switch (c.target) {
    case 'VALUE':
      result = Buffer.compare(kv.value, operand(c, 'value') ?? MISSING.value);
      break;
    case 'VERSION':
      result = Math.sign(kv.version - (operand(c, 'version') ?? 0));
      break;
    case 'CREATE':
      result = Math.sign(kv.createRevision - (operand(c, 'createRevision') ?? 0));
      break;
    case 'MOD':
      result = Math.sign(kv.modRevision - (operand(c, 'modRevision') ?? 0));
      break;
    case 'LEASE':
      result = Math.sign(kv.lease - (operand(c, 'lease') ?? 0));
      break;
    default:
      result = 0;
  }
  switch (c.result) {
    case 'EQUAL':
      return result === 0;
    case 'NOT_EQUAL':
      return result !== 0;
    case 'GREATER':
      return result > 0;
    case 'LESS':
      return result < 0;
    default:
      return true;
  }
}

type Operand = 'version' | 'createRevision' | 'modRevision' | 'value' | 'lease';

/** The compare's operand; like etcd, a oneof set to a different field reads as zero. */
function operand<K extends Operand>(c: Compare, field: K): Compare[K] | undefined {
  if (c.targetUnion !== undefined && c.targetUnion !== field) return undefined;
  return c[field];
}
