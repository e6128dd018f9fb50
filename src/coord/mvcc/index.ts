export { MvccStore, WriteBatch, type RevisionRecord } from './store.js';
export { KeyHistory, isTombstone } from './key-history.js';
export { type KeySpan, type KeyString, keyBuffer, keyString, spanContains, spanOf } from './keys.js';
export { checkRangeRequest, effectiveSortOrder, executeRange } from './range.js';
export { checkDeleteRequest, checkPutRequest, checkTxn, MAX_TXN_OPS } from './validate.js';
export { applyCompare } from './compare.js';
export { type Applied, deleteKeys, deleteRange, isReadOnlyTxn, type LeaseHooks, put, range, txn } from './kv.js';
export { hashAll, hashKv, type HashKvResult } from './hash.js';
