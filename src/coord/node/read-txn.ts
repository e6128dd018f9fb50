// A transaction whose branches only read needs no log entry (etcd serves it like a Range): once
// the read barrier passed, it is evaluated against the applied key space. Compares follow
// etcd's applier exactly as src/coord/mvcc/compare.ts does for logged transactions: every key
// in the compare's range must pass; with no key in range a VALUE compare fails and any other
// target compares against zero.
import { checkTxn, type CoordStateMachine } from '../index.js';
import type { Compare, KeyValue, RangeRequest, RequestOp, ResponseOp, TxnRequest, TxnResponse } from '../types.js';

const EMPTY = Buffer.alloc(0);

/** True when no operation on either branch, nested ones included, writes. */
export function isReadOnlyTxn(req: TxnRequest): boolean {
  const readOnly = (op: RequestOp): boolean =>
    op.request === 'requestRange' || (op.request === 'requestTxn' && isReadOnlyTxn(op.requestTxn));
  return req.success.every(readOnly) && req.failure.every(readOnly);
}

export function readTxn(sm: CoordStateMachine, req: TxnRequest): TxnResponse {
  checkTxn(req);
  return evaluate(sm, req, sm.currentRevision);
}

function evaluate(sm: CoordStateMachine, req: TxnRequest, revision: number): TxnResponse {
  const succeeded = req.compare.every((c) => passes(sm, c));
  const responses: ResponseOp[] = [];
  for (const op of succeeded ? req.success : req.failure) {
    if (op.request === 'requestRange') responses.push({ response: 'responseRange', responseRange: sm.range(op.requestRange) });
    else if (op.request === 'requestTxn') responses.push({ response: 'responseTxn', responseTxn: evaluate(sm, op.requestTxn, revision) });
    else throw new Error(`coord: a read-only txn holds a ${op.request}`);
  }
  return { revision, succeeded, responses };
}

function passes(sm: CoordStateMachine, c: Compare): boolean {
  const { kvs } = sm.range(scan(c.key, c.rangeEnd));
  if (kvs.length === 0) return c.target === 'VALUE' ? false : compareKv(c, null);
  return kvs.every((kv) => compareKv(c, kv));
}

function compareKv(c: Compare, kv: KeyValue | null): boolean {
  let result: number;
  switch (c.target) {
    case 'VALUE':
      result = Buffer.compare(kv?.value ?? EMPTY, operand(c, 'value') ?? EMPTY);
      break;
    case 'VERSION':
      result = Math.sign((kv?.version ?? 0) - (operand(c, 'version') ?? 0));
      break;
    case 'CREATE':
      result = Math.sign((kv?.createRevision ?? 0) - (operand(c, 'createRevision') ?? 0));
      break;
    case 'MOD':
      result = Math.sign((kv?.modRevision ?? 0) - (operand(c, 'modRevision') ?? 0));
      break;
    case 'LEASE':
      result = Math.sign((kv?.lease ?? 0) - (operand(c, 'lease') ?? 0));
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

function scan(key: Buffer, rangeEnd: Buffer): RangeRequest {
  return {
    key,
    rangeEnd,
    limit: 0,
    revision: 0,
    sortOrder: 'NONE',
    sortTarget: 'KEY',
    serializable: true,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
  };
}
