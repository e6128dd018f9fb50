// Range as etcd's server applies it: count all keys in range at the read revision, then filter by
// mod/create revision, sort, truncate to the limit, and strip values for keys-only.
import type { KeyValue, RangeRequest, RangeResponse, SortOrder, SortTarget } from '../types.js';
import { ErrEmptyKey, ErrInvalidSortOption } from '../errors.js';
import { EMPTY } from './key-history.js';
import { spanOf } from './keys.js';
import type { MvccStore } from './store.js';

const SORT_ORDERS: ReadonlySet<string> = new Set<SortOrder>(['NONE', 'ASCEND', 'DESCEND']);
const SORT_TARGETS: ReadonlySet<string> = new Set<SortTarget>(['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE']);

/** etcd's checkRangeRequest: the stateless checks done before a request reaches the store. */
export function checkRangeRequest(req: RangeRequest): void {
  if (req.key.length === 0) throw ErrEmptyKey();
  if (!SORT_ORDERS.has(req.sortOrder ?? 'NONE') || !SORT_TARGETS.has(req.sortTarget ?? 'KEY')) {
    throw ErrInvalidSortOption();
  }
}

/**
 * Runs a validated range. `viewRevision` is what revision 0 means (the store's revision, or a
 * txn's view including its own writes); `headerRevision` goes in the response.
 */
export function executeRange(
  store: MvccStore,
  req: RangeRequest,
  viewRevision: number,
  headerRevision: number,
): RangeResponse {
  store.checkReadRevision(req.revision);
  const atRev = req.revision > 0 ? req.revision : viewRevision;
  const limit = req.limit > 0 ? req.limit : 0;
  const filtered =
    req.minModRevision !== 0 || req.maxModRevision !== 0 || req.minCreateRevision !== 0 || req.maxCreateRevision !== 0;
  const sortOrder = effectiveSortOrder(req.sortOrder ?? 'NONE', req.sortTarget ?? 'KEY');
  // Like etcd: sorting or filtering needs every key; otherwise one past the limit tells `more`.
  const keep = req.countOnly ? 0 : limit > 0 && !filtered && sortOrder === 'NONE' ? limit + 1 : Infinity;

  let kvs: KeyValue[] = [];
  let count = 0;
  store.scan(spanOf(req.key, req.rangeEnd), atRev, (kv) => {
    count++;
    if (kvs.length < keep) kvs.push(kv);
  });

  if (filtered) kvs = kvs.filter((kv) => passesRevisionFilters(req, kv));
  if (sortOrder !== 'NONE') sortKvs(kvs, req.sortTarget ?? 'KEY', sortOrder);
  let more = false;
  if (limit > 0 && kvs.length > limit) {
    kvs.length = limit;
    more = true;
  }
  if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
  return { revision: headerRevision, kvs, more, count };
}

/**
 * etcd re-sorts only when needed: the store yields key-ascending order, so KEY/ASCEND is NONE,
 * and a non-KEY target with order NONE sorts ascending (etcd's v3 server does exactly this).
 */
export function effectiveSortOrder(order: SortOrder, target: SortTarget): SortOrder {
  if (order === 'NONE' && target !== 'KEY') return 'ASCEND';
  if (order === 'ASCEND' && target === 'KEY') return 'NONE';
  return order;
}

function passesRevisionFilters(req: RangeRequest, kv: KeyValue): boolean {
  // As etcd: a bound of 0 is unset; any other, negative ones included, applies.
  if (req.maxModRevision !== 0 && kv.modRevision > req.maxModRevision) return false;
  if (req.minModRevision !== 0 && kv.modRevision < req.minModRevision) return false;
  if (req.maxCreateRevision !== 0 && kv.createRevision > req.maxCreateRevision) return false;
  if (req.minCreateRevision !== 0 && kv.createRevision < req.minCreateRevision) return false;
  return true;
}

// Ties keep key order (JS sort is stable); etcd's Go sort leaves tie order unspecified.
function sortKvs(kvs: KeyValue[], target: SortTarget, order: SortOrder): void {
  const sign = order === 'DESCEND' ? -1 : 1;
  if (target === 'KEY') {
    if (order === 'DESCEND') kvs.reverse();
    return;
  }
  const cmp = (a: KeyValue, b: KeyValue): number => {
    switch (target) {
      case 'VERSION':
        return a.version - b.version;
      case 'CREATE':
        return a.createRevision - b.createRevision;
      case 'MOD':
        return a.modRevision - b.modRevision;
      case 'VALUE':
        return Buffer.compare(a.value, b.value);
    }
  };
  kvs.sort((a, b) => sign * cmp(a, b));
}
