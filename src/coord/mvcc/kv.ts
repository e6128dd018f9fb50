// Put, DeleteRange and Txn applied to the store, with etcd's order of checks: stateless request
// checks, then lease and key existence (against the store before any write), then the writes.
// Every check happens before the first write, so a failing command changes nothing.
import type {
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../types.js';
import { ErrKeyNotFound, ErrLeaseNotFound } from '../errors.js';
import { applyCompare } from './compare.js';
import { type KeyString, keyString, spanOf } from './keys.js';
import { checkRangeRequest, executeRange } from './range.js';
import type { MvccStore, RevisionRecord, WriteBatch } from './store.js';
import { checkDeleteRequest, checkPutRequest, checkTxn } from './validate.js';

/** How the key space tells the lease table which keys a lease holds. */
export interface LeaseHooks {
  exists(id: number): boolean;
  attach(id: number, key: KeyString): void;
  detach(id: number, key: KeyString): void;
}

export interface Applied<R> {
  res: R;
  /** The revision written, if the command changed anything. */
  record: RevisionRecord | undefined;
}

export function range(store: MvccStore, req: RangeRequest): RangeResponse {
  checkRangeRequest(req);
  return executeRange(store, req, store.currentRevision, store.currentRevision);
}

export function put(store: MvccStore, leases: LeaseHooks, req: PutRequest): Applied<PutResponse> {
  checkPutRequest(req);
  checkPutPreconditions(store, leases, req);
  const batch = store.beginWrite();
  const prevKv = writePut(batch, leases, req);
  const record = batch.commit();
  return { res: { revision: store.currentRevision, prevKv: req.prevKv ? prevKv : null }, record };
}

export function deleteRange(
  store: MvccStore,
  leases: LeaseHooks,
  req: DeleteRangeRequest,
): Applied<DeleteRangeResponse> {
  checkDeleteRequest(req);
  const batch = store.beginWrite();
  const deleted = writeDelete(batch, leases, req);
  const record = batch.commit();
  return {
    res: { revision: store.currentRevision, deleted: deleted.length, prevKvs: req.prevKv ? deleted : [] },
    record,
  };
}

/** Deletes keys (a revoked lease's) in one revision, in the order given. */
export function deleteKeys(store: MvccStore, leases: LeaseHooks, keys: readonly KeyString[]): RevisionRecord | undefined {
  const batch = store.beginWrite();
  for (const key of keys) {
    for (const prev of batch.deleteRange({ start: key, end: undefined })) detachDeleted(leases, prev);
  }
  return batch.commit();
}

export function txn(store: MvccStore, leases: LeaseHooks, req: TxnRequest, maxTxnOps?: number): Applied<TxnResponse> {
  checkTxn(req, maxTxnOps);
  // Every compare, nested ones too, sees the store as it was before this txn (as etcd).
  const before = store.currentRevision;
  const path = choosePath(store, req, before);
  forEachOnPath(req, path, (op) => {
    if (op.request === 'requestPut') checkPutPreconditions(store, leases, op.requestPut);
  });
  forEachOnPath(req, path, (op) => {
    if (op.request === 'requestRange' && op.requestRange.revision !== 0) {
      store.checkReadRevision(op.requestRange.revision);
    }
  });

  const batch = store.beginWrite();
  const res = executeTxn(batch, store, leases, req, path);
  const record = batch.commit();
  res.revision = store.currentRevision;
  return { res, record };
}

/** True when no operation on either branch, nested ones included, writes. */
export function isReadOnlyTxn(req: TxnRequest): boolean {
  const readOnly = (op: RequestOp): boolean =>
    op.request === 'requestRange' || (op.request === 'requestTxn' && isReadOnlyTxn(op.requestTxn));
  return req.success.every(readOnly) && req.failure.every(readOnly);
}

interface TxnPath {
  succeeded: boolean;
  /** The chosen branch's nested txns, in order. */
  nested: TxnPath[];
}

function choosePath(store: MvccStore, req: TxnRequest, atRev: number): TxnPath {
  const succeeded = req.compare.every((c) => applyCompare(store, c, atRev));
  const nested: TxnPath[] = [];
  for (const op of succeeded ? req.success : req.failure) {
    if (op.request === 'requestTxn') nested.push(choosePath(store, op.requestTxn, atRev));
  }
  return { succeeded, nested };
}

function forEachOnPath(req: TxnRequest, path: TxnPath, visit: (op: RequestOp) => void): void {
  let n = 0;
  for (const op of path.succeeded ? req.success : req.failure) {
    if (op.request === 'requestTxn') forEachOnPath(op.requestTxn, path.nested[n++]!, visit);
    else visit(op);
  }
}

function executeTxn(
  batch: WriteBatch,
  store: MvccStore,
  leases: LeaseHooks,
  req: TxnRequest,
  path: TxnPath,
): TxnResponse {
  const responses: ResponseOp[] = [];
  let n = 0;
  for (const op of path.succeeded ? req.success : req.failure) {
    switch (op.request) {
      case 'requestRange':
        responses.push({
          response: 'responseRange',
          responseRange: executeRange(store, op.requestRange, batch.viewRevision, batch.viewRevision),
        });
        break;
      case 'requestPut': {
        const prevKv = writePut(batch, leases, op.requestPut);
        responses.push({
          response: 'responsePut',
          responsePut: { revision: batch.viewRevision, prevKv: op.requestPut.prevKv ? prevKv : null },
        });
        break;
      }
      case 'requestDeleteRange': {
        const deleted = writeDelete(batch, leases, op.requestDeleteRange);
        responses.push({
          response: 'responseDeleteRange',
          responseDeleteRange: {
            revision: batch.viewRevision,
            deleted: deleted.length,
            prevKvs: op.requestDeleteRange.prevKv ? deleted : [],
          },
        });
        break;
      }
      case 'requestTxn':
        responses.push({
          response: 'responseTxn',
          responseTxn: executeTxn(batch, store, leases, op.requestTxn, path.nested[n++]!),
        });
        break;
    }
  }
  // As etcd: each op answers with the revision its view had right after it ran (a read before
  // the txn's first write sees the old revision); a nested txn's own revision stays 0, and only
  // the outermost one gets the txn's resulting revision.
  return { revision: 0, succeeded: path.succeeded, responses };
}

function checkPutPreconditions(store: MvccStore, leases: LeaseHooks, req: PutRequest): void {
  if (req.lease !== 0 && !leases.exists(req.lease)) throw ErrLeaseNotFound();
  if ((req.ignoreValue || req.ignoreLease) && store.get(keyString(req.key), store.currentRevision) === undefined) {
    throw ErrKeyNotFound();
  }
}

function writePut(batch: WriteBatch, leases: LeaseHooks, req: PutRequest): KeyValue | null {
  const key = keyString(req.key);
  let value = req.value;
  let lease = req.lease;
  if (req.ignoreValue || req.ignoreLease) {
    // Checked before the batch; the key can only be gone here if an earlier "from key" delete
    // (range_end "\0", which etcd's duplicate check does not see) removed it in this txn. etcd
    // panics there; we write the request's own (empty) value and lease instead.
    const current = batch.latest(key);
    if (current !== undefined) {
      if (req.ignoreValue) value = current.value;
      if (req.ignoreLease) lease = current.lease;
    }
  }
  const { prev } = batch.put(key, req.key, value, lease);
  const prevLease = prev?.lease ?? 0;
  if (prevLease !== lease) {
    if (prevLease !== 0) leases.detach(prevLease, key);
    if (lease !== 0) leases.attach(lease, key);
  }
  return prev ?? null;
}

function writeDelete(batch: WriteBatch, leases: LeaseHooks, req: DeleteRangeRequest): KeyValue[] {
  const deleted = batch.deleteRange(spanOf(req.key, req.rangeEnd));
  for (const prev of deleted) detachDeleted(leases, prev);
  return deleted;
}

function detachDeleted(leases: LeaseHooks, prev: KeyValue): void {
  if (prev.lease !== 0) leases.detach(prev.lease, keyString(prev.key));
}
