// Conversion between protobufjs-decoded etcd messages and the coordinator's request shapes
// (src/coord/types.ts), validating at the edge: int64 values beyond 2^53, negative ids and
// revisions, unknown enum values, empty keys, oversized transactions. Used both for requests
// arriving over gRPC and for commands read back from the log, so both paths yield one shape.
import {
  ErrDuplicateKey,
  ErrEmptyKey,
  ErrInvalidArgument,
  ErrInvalidSortOption,
  ErrLeaseProvided,
  ErrTooManyOps,
  ErrValueProvided,
} from '../errors.js';
import type {
  Command,
  Compare,
  CompareResult,
  CompareTarget,
  CompactionRequest,
  DeleteRangeRequest,
  LeaseGrantRequest,
  LeaseRevokeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  SortOrder,
  SortTarget,
  TxnRequest,
} from '../types.js';

/** A decoded protobufjs message: fields present as own properties, defaults on the prototype. */
export type WireMsg = { readonly [field: string]: unknown };

/** etcd's limit on operations in each list of a transaction (--max-txn-ops). */
export const MAX_TXN_OPS = 128;

export const EMPTY = Buffer.alloc(0);

const SORT_ORDERS: readonly SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGETS: readonly SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];
const COMPARE_RESULTS: readonly CompareResult[] = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'];
const COMPARE_TARGETS: readonly CompareTarget[] = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'];
/** The oneof member that carries the operand of each compare target, in COMPARE_TARGETS order. */
const TARGET_FIELDS = ['version', 'createRevision', 'modRevision', 'value', 'lease'] as const;

interface LongLike {
  low: number;
  high: number;
  unsigned: boolean;
}

/** A signed int64 field as a JS number; rejects values outside the safe-integer range. */
export function int64(v: unknown, field: string): number {
  if (typeof v === 'number') return v;
  const l = v as LongLike;
  if (l.unsigned) return uint64(v, field);
  // |value| < 2^53 needs the high word within [-2^21, 2^21).
  if (l.high > 0x1fffff || l.high < -0x200000) throw tooLarge(field);
  const n = l.high * 4294967296 + (l.low >>> 0);
  if (!Number.isSafeInteger(n)) throw tooLarge(field);
  return n;
}

/** An unsigned 64-bit field as a JS number; rejects values at or above 2^53. */
export function uint64(v: unknown, field: string): number {
  if (typeof v === 'number') return v;
  const l = v as LongLike;
  const high = l.high >>> 0;
  if (high > 0x1fffff) throw tooLarge(field);
  return high * 4294967296 + (l.low >>> 0);
}

/** A signed int64 field that must be >= 0 (ids, revisions, limits, TTLs). */
export function nonNegative(v: unknown, field: string): number {
  const n = int64(v, field);
  if (n < 0) throw ErrInvalidArgument(`shoal: invalid ${field} ${n}: must not be negative`);
  return n;
}

function tooLarge(field: string) {
  return ErrInvalidArgument(`shoal: invalid ${field}: beyond 2^53, the largest integer this server accepts`);
}

export function bytes(v: unknown): Buffer {
  // Absent bytes fields read as protobufjs's shared empty array, not a Buffer.
  return Buffer.isBuffer(v) && v.length > 0 ? v : EMPTY;
}

function enumValue<T>(v: unknown, names: readonly T[], field: string): T {
  const name = names[v as number];
  if (name === undefined) throw ErrInvalidArgument(`shoal: invalid ${field} ${String(v)}`);
  return name;
}

export function rangeFromWire(m: WireMsg): RangeRequest {
  const key = bytes(m.key);
  if (key.length === 0) throw ErrEmptyKey();
  const sortOrder = SORT_ORDERS[m.sortOrder as number];
  const sortTarget = SORT_TARGETS[m.sortTarget as number];
  if (sortOrder === undefined || sortTarget === undefined) throw ErrInvalidSortOption();
  return {
    key,
    rangeEnd: bytes(m.rangeEnd),
    // etcd takes these as they come: a limit <= 0 is no limit, a revision <= 0 the current one,
    // and a negative filter bound is compared like any other (a negative max keeps nothing).
    limit: int64(m.limit, 'limit'),
    revision: int64(m.revision, 'revision'),
    sortOrder,
    sortTarget,
    serializable: m.serializable === true,
    keysOnly: m.keysOnly === true,
    countOnly: m.countOnly === true,
    minModRevision: int64(m.minModRevision, 'min_mod_revision'),
    maxModRevision: int64(m.maxModRevision, 'max_mod_revision'),
    minCreateRevision: int64(m.minCreateRevision, 'min_create_revision'),
    maxCreateRevision: int64(m.maxCreateRevision, 'max_create_revision'),
  };
}

export function putFromWire(m: WireMsg): PutRequest {
  const key = bytes(m.key);
  if (key.length === 0) throw ErrEmptyKey();
  const value = bytes(m.value);
  // Lease ids are int64 in etcd; a negative one is as valid as any other.
  const lease = int64(m.lease, 'lease');
  const ignoreValue = m.ignoreValue === true;
  const ignoreLease = m.ignoreLease === true;
  if (ignoreValue && value.length > 0) throw ErrValueProvided();
  if (ignoreLease && lease !== 0) throw ErrLeaseProvided();
  return { key, value, lease, prevKv: m.prevKv === true, ignoreValue, ignoreLease };
}

export function deleteRangeFromWire(m: WireMsg): DeleteRangeRequest {
  const key = bytes(m.key);
  if (key.length === 0) throw ErrEmptyKey();
  return { key, rangeEnd: bytes(m.rangeEnd), prevKv: m.prevKv === true };
}

export function compareFromWire(m: WireMsg): Compare {
  const result = enumValue(m.result, COMPARE_RESULTS, 'compare result');
  const targetIndex = m.target as number;
  const target = enumValue(targetIndex, COMPARE_TARGETS, 'compare target');
  const key = bytes(m.key);
  if (key.length === 0) throw ErrEmptyKey();
  // The operand is the oneof member matching the target; like etcd, a missing or mismatched
  // member compares against the zero value.
  const field = TARGET_FIELDS[targetIndex];
  const set = m.targetUnion === field;
  const c: Compare = { result, target, key, rangeEnd: bytes(m.rangeEnd), targetUnion: field };
  if (field === 'value') c.value = set ? bytes(m.value) : EMPTY;
  else c[field] = set ? int64(m[field], `compare ${field}`) : 0;
  return c;
}

export function txnFromWire(m: WireMsg): TxnRequest {
  const compare = m.compare as WireMsg[];
  const success = m.success as WireMsg[];
  const failure = m.failure as WireMsg[];
  if (compare.length > MAX_TXN_OPS || success.length > MAX_TXN_OPS || failure.length > MAX_TXN_OPS) {
    throw ErrTooManyOps();
  }
  const txn: TxnRequest = {
    compare: compare.map(compareFromWire),
    success: success.map(requestOpFromWire),
    failure: failure.map(requestOpFromWire),
  };
  checkIntervals(txn.success);
  checkIntervals(txn.failure);
  return txn;
}

function requestOpFromWire(m: WireMsg): RequestOp {
  switch (m.request) {
    case 'requestRange':
      return { request: 'requestRange', requestRange: rangeFromWire(m.requestRange as WireMsg) };
    case 'requestPut':
      return { request: 'requestPut', requestPut: putFromWire(m.requestPut as WireMsg) };
    case 'requestDeleteRange':
      return {
        request: 'requestDeleteRange',
        requestDeleteRange: deleteRangeFromWire(m.requestDeleteRange as WireMsg),
      };
    case 'requestTxn':
      return { request: 'requestTxn', requestTxn: txnFromWire(m.requestTxn as WireMsg) };
    default:
      throw ErrInvalidArgument('shoal: invalid txn operation: no request set');
  }
}

interface Writes {
  puts: Set<string>;
  dels: Array<[Buffer, Buffer]>;
}

/**
 * etcd rejects a transaction branch that writes one key twice, or puts a key that the same
 * branch deletes (the order of effects would be ambiguous). A nested transaction's two
 * branches never both run, so each is checked against the outer branch but not each other.
 */
function checkIntervals(ops: RequestOp[]): Writes {
  const w: Writes = { puts: new Set(), dels: [] };
  for (const op of ops) {
    if (op.request === 'requestPut') {
      const k = op.requestPut.key.toString('latin1');
      if (w.puts.has(k)) throw ErrDuplicateKey();
      w.puts.add(k);
    } else if (op.request === 'requestDeleteRange') {
      const d = op.requestDeleteRange;
      w.dels.push([d.key, d.rangeEnd]);
    } else if (op.request === 'requestTxn') {
      const s = checkIntervals(op.requestTxn.success);
      const f = checkIntervals(op.requestTxn.failure);
      const nested = new Set<string>();
      for (const branch of [s, f]) {
        for (const k of branch.puts) {
          if (w.puts.has(k)) throw ErrDuplicateKey();
          nested.add(k);
        }
      }
      for (const k of nested) w.puts.add(k);
      w.dels.push(...s.dels, ...f.dels);
    }
  }
  for (const k of w.puts) {
    const key = Buffer.from(k, 'latin1');
    for (const [start, end] of w.dels) if (inRange(key, start, end)) throw ErrDuplicateKey();
  }
  return w;
}

function inRange(key: Buffer, start: Buffer, end: Buffer): boolean {
  if (end.length === 0) return key.equals(start);
  if (Buffer.compare(key, start) < 0) return false;
  if (end.length === 1 && end[0] === 0) return true;
  return Buffer.compare(key, end) < 0;
}

/** etcd answers a negative revision with "compacted" (it is below any compaction mark). */
export function compactionFromWire(m: WireMsg): CompactionRequest {
  return { revision: int64(m.revision, 'revision'), physical: m.physical === true };
}

/** etcd grants any non-zero id, negative ones too, and raises a TTL below the minimum (even a negative one). */
export function leaseGrantFromWire(m: WireMsg): LeaseGrantRequest {
  return { id: int64(m.ID, 'lease ID'), ttl: int64(m.TTL, 'TTL') };
}

export function leaseRevokeFromWire(m: WireMsg): LeaseRevokeRequest {
  return { id: int64(m.ID, 'lease ID') };
}

// ------------------------------------------------------------------ to the wire (the log)

/** A Command as a plain object protobufjs can encode as shoalpb.Command. */
export function commandToWire(cmd: Command): object {
  switch (cmd.type) {
    case 'put':
      return { put: cmd.req };
    case 'deleteRange':
      return { deleteRange: cmd.req };
    case 'txn':
      return { txn: txnToWire(cmd.req) };
    case 'compact':
      return { compact: cmd.req };
    case 'leaseGrant':
      return { leaseGrant: { ID: cmd.req.id, TTL: cmd.req.ttl } };
    case 'leaseRevoke':
      return { leaseRevoke: { ID: cmd.req.id } };
  }
}

export function commandFromWire(m: WireMsg): Command {
  switch (m.command) {
    case 'put':
      return { type: 'put', req: putFromWire(m.put as WireMsg) };
    case 'deleteRange':
      return { type: 'deleteRange', req: deleteRangeFromWire(m.deleteRange as WireMsg) };
    case 'txn':
      return { type: 'txn', req: txnFromWire(m.txn as WireMsg) };
    case 'compact':
      return { type: 'compact', req: compactionFromWire(m.compact as WireMsg) };
    case 'leaseGrant':
      return { type: 'leaseGrant', req: leaseGrantFromWire(m.leaseGrant as WireMsg) };
    case 'leaseRevoke':
      return { type: 'leaseRevoke', req: leaseRevokeFromWire(m.leaseRevoke as WireMsg) };
    default:
      throw new Error(`coord: log record holds no known command (${String(m.command)})`);
  }
}

function txnToWire(t: TxnRequest): object {
  return {
    compare: t.compare.map((c) => ({
      ...c,
      result: COMPARE_RESULTS.indexOf(c.result),
      target: COMPARE_TARGETS.indexOf(c.target),
    })),
    success: t.success.map(opToWire),
    failure: t.failure.map(opToWire),
  };
}

function opToWire(op: RequestOp): object {
  switch (op.request) {
    case 'requestRange':
      return { requestRange: rangeToWire(op.requestRange) };
    case 'requestPut':
      return { requestPut: op.requestPut };
    case 'requestDeleteRange':
      return { requestDeleteRange: op.requestDeleteRange };
    case 'requestTxn':
      return { requestTxn: txnToWire(op.requestTxn) };
  }
}

export function rangeToWire(r: RangeRequest): object {
  return { ...r, sortOrder: SORT_ORDERS.indexOf(r.sortOrder), sortTarget: SORT_TARGETS.indexOf(r.sortTarget) };
}
