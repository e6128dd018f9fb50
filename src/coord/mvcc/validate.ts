// etcd's stateless request checks (its v3rpc key.go): done before a request enters the log, and
// again by the state machine so that a command from any source is held to the same rules.
import type { DeleteRangeRequest, PutRequest, RequestOp, TxnRequest } from '../types.js';
import {
  ErrDuplicateKey,
  ErrEmptyKey,
  ErrKeyNotFound,
  ErrLeaseProvided,
  ErrTooManyOps,
  ErrValueProvided,
} from '../errors.js';
import { type KeySpan, type KeyString, keyString, spanContains } from './keys.js';
import { checkRangeRequest } from './range.js';

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;

export function checkPutRequest(req: PutRequest): void {
  if (req.key.length === 0) throw ErrEmptyKey();
  if (req.ignoreValue && req.value.length !== 0) throw ErrValueProvided();
  if (req.ignoreLease && req.lease !== 0) throw ErrLeaseProvided();
}

export function checkDeleteRequest(req: DeleteRangeRequest): void {
  if (req.key.length === 0) throw ErrEmptyKey();
}

/** Op-count limit, empty compare keys, each op's own checks, then etcd's duplicate-key rule. */
export function checkTxn(req: TxnRequest, maxTxnOps = MAX_TXN_OPS): void {
  checkTxnRequest(req, maxTxnOps);
  checkIntervals(req.success);
  checkIntervals(req.failure);
}

function checkTxnRequest(req: TxnRequest, maxTxnOps: number): void {
  // etcd counts the longest of the three lists; nested txns share what is left of the budget.
  const opc = Math.max(req.compare.length, req.success.length, req.failure.length);
  if (opc > maxTxnOps) throw ErrTooManyOps();
  for (const c of req.compare) if (c.key.length === 0) throw ErrEmptyKey();
  for (const op of req.success) checkRequestOp(op, maxTxnOps - opc);
  for (const op of req.failure) checkRequestOp(op, maxTxnOps - opc);
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  switch (op.request) {
    case 'requestRange':
      return checkRangeRequest(op.requestRange);
    case 'requestPut':
      return checkPutRequest(op.requestPut);
    case 'requestDeleteRange':
      return checkDeleteRequest(op.requestDeleteRange);
    case 'requestTxn':
      return checkTxnRequest(op.requestTxn, maxTxnOps);
    default:
      // An op with no request set: etcd answers "key not found".
      throw ErrKeyNotFound();
  }
}

/**
 * etcd's checkIntervals: no key may be put twice or put and deleted in one branch, with nested
 * txns' then/else branches counted as alternatives. Like etcd, a delete's range_end is taken
 * literally here, so a "from key" delete (range_end "\0") conflicts with no put, and a put in
 * an earlier nested txn is not checked against a delete in a later one.
 */
function checkIntervals(ops: RequestOp[]): { puts: Set<KeyString>; dels: KeySpan[] } {
  const dels: KeySpan[] = [];
  for (const op of ops) {
    if (op.request !== 'requestDeleteRange') continue;
    const d = op.requestDeleteRange;
    dels.push({ start: keyString(d.key), end: d.rangeEnd.length === 0 ? undefined : keyString(d.rangeEnd) });
  }
  const deleted = (k: KeyString): boolean => dels.some((span) => spanContains(span, k));

  const puts = new Set<KeyString>();
  for (const op of ops) {
    if (op.request !== 'requestTxn') continue;
    const then = checkIntervals(op.requestTxn.success);
    const otherwise = checkIntervals(op.requestTxn.failure);
    for (const k of then.puts) {
      if (puts.has(k) || deleted(k)) throw ErrDuplicateKey();
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw ErrDuplicateKey();
      if (deleted(k)) throw ErrDuplicateKey();
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }

  for (const op of ops) {
    if (op.request !== 'requestPut') continue;
    const k = keyString(op.requestPut.key);
    if (puts.has(k) || deleted(k)) throw ErrDuplicateKey();
    puts.add(k);
  }
  return { puts, dels };
}
