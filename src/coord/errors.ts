// etcd's error strings and gRPC codes (etcd: api/v3rpc/rpctypes). Clients such as etcdctl and
// the etcd3 npm package match on these exact messages, so they are part of the wire contract.
import { CoordError } from './types.js';

export const ErrEmptyKey = (): CoordError =>
  new CoordError('INVALID_ARGUMENT', 'etcdserver: key is not provided');
export const ErrKeyNotFound = (): CoordError =>
  new CoordError('INVALID_ARGUMENT', 'etcdserver: key not found');
export const ErrValueProvided = (): CoordError =>
  new CoordError('INVALID_ARGUMENT', 'etcdserver: value is provided');
export const ErrLeaseProvided = (): CoordError =>
  new CoordError('INVALID_ARGUMENT', 'etcdserver: lease is provided');
export const ErrTooManyOps = (): CoordError =>
  new CoordError('INVALID_ARGUMENT', 'etcdserver: too many operations in txn request');
export const ErrDuplicateKey = (): CoordError =>
  new CoordError('INVALID_ARGUMENT', 'etcdserver: duplicate key given in txn request');
export const ErrInvalidSortOption = (): CoordError =>
  new CoordError('INVALID_ARGUMENT', 'etcdserver: invalid sort option');
export const ErrCompacted = (): CoordError =>
  new CoordError('OUT_OF_RANGE', 'etcdserver: mvcc: required revision has been compacted');
export const ErrFutureRev = (): CoordError =>
  new CoordError('OUT_OF_RANGE', 'etcdserver: mvcc: required revision is a future revision');
export const ErrLeaseNotFound = (): CoordError =>
  new CoordError('NOT_FOUND', 'etcdserver: requested lease not found');
export const ErrLeaseExist = (): CoordError =>
  new CoordError('FAILED_PRECONDITION', 'etcdserver: lease already exists');
export const ErrLeaseTtlTooLarge = (): CoordError =>
  new CoordError('OUT_OF_RANGE', 'etcdserver: too large lease TTL');
export const ErrNotLeader = (): CoordError =>
  new CoordError('UNAVAILABLE', 'etcdserver: not leader');
/** etcd 3.4 refuses a learner every call but Status, serializable Range and Snapshot. */
export const ErrNotSupportedForLearner = (): CoordError =>
  new CoordError('UNAVAILABLE', 'etcdserver: rpc not supported for learner');
export const ErrInvalidArgument = (message: string): CoordError =>
  new CoordError('INVALID_ARGUMENT', message);

/** Invariant check: a violation is a bug, never a client error. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`coord invariant violated: ${message}`);
}
