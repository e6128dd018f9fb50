// The coordinator's request, response and command shapes.
//
// They mirror etcd's v3 protobuf messages as @grpc/proto-loader decodes them with
//   { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true, bytes: Buffer }
// so the gRPC layer can hand a decoded request to the state machine without remapping.
// int64 fields are JS numbers: ids and revisions above 2^53 are rejected at the API edge.
//
// `Command` is the seam to consensus: the ordered list of commands is exactly what the
// single-node write-ahead log persists today and what Raft replicates later. Applying the same
// commands in the same order from the same snapshot yields the same state and responses, so
// everything a command needs (lease ids, the time of a lease grant) is inside it.

export interface KeyValue {
  key: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Buffer;
  lease: number;
}

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface RangeRequest {
  key: Buffer;
  /** Empty: just `key`. `\0`: every key >= key. Otherwise the half-open range [key, rangeEnd). */
  rangeEnd: Buffer;
  /** <= 0: no limit. */
  limit: number;
  /** <= 0: the current revision. */
  revision: number;
  sortOrder: SortOrder;
  sortTarget: SortTarget;
  serializable: boolean;
  keysOnly: boolean;
  countOnly: boolean;
  minModRevision: number;
  maxModRevision: number;
  minCreateRevision: number;
  maxCreateRevision: number;
}

/** A RangeRequest with every field at its protobuf default, as a decoded request would have. */
export function rangeRequest(key: Buffer, over: Partial<RangeRequest> = {}): RangeRequest {
  return {
    key,
    rangeEnd: Buffer.alloc(0),
    limit: 0,
    revision: 0,
    sortOrder: 'NONE',
    sortTarget: 'KEY',
    serializable: false,
    keysOnly: false,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
    ...over,
  };
}

export interface RangeResponse {
  /** Store's current revision (etcd's header.revision), not the revision read at. */
  revision: number;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: Buffer;
  value: Buffer;
  lease: number;
  prevKv: boolean;
  ignoreValue: boolean;
  ignoreLease: boolean;
}

export interface PutResponse {
  revision: number;
  prevKv: KeyValue | null;
}

export interface DeleteRangeRequest {
  key: Buffer;
  rangeEnd: Buffer;
  prevKv: boolean;
}

export interface DeleteRangeResponse {
  revision: number;
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';
export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';

export interface Compare {
  result: CompareResult;
  target: CompareTarget;
  key: Buffer;
  rangeEnd: Buffer;
  /** Which of the fields below is set (proto oneof `target_union`). */
  targetUnion?: 'version' | 'createRevision' | 'modRevision' | 'value' | 'lease';
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Buffer;
  lease?: number;
}

export type RequestOp =
  | { request: 'requestRange'; requestRange: RangeRequest }
  | { request: 'requestPut'; requestPut: PutRequest }
  | { request: 'requestDeleteRange'; requestDeleteRange: DeleteRangeRequest }
  | { request: 'requestTxn'; requestTxn: TxnRequest };

export type ResponseOp =
  | { response: 'responseRange'; responseRange: RangeResponse }
  | { response: 'responsePut'; responsePut: PutResponse }
  | { response: 'responseDeleteRange'; responseDeleteRange: DeleteRangeResponse }
  | { response: 'responseTxn'; responseTxn: TxnResponse };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

export interface TxnResponse {
  revision: number;
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: number;
  physical: boolean;
}

export interface CompactionResponse {
  revision: number;
}

export interface LeaseGrantRequest {
  /** Chosen by the proposer before the command enters the log (never 0 inside a command). */
  id: number;
  ttl: number;
}

export interface LeaseGrantResponse {
  revision: number;
  id: number;
  ttl: number;
}

export interface LeaseRevokeRequest {
  id: number;
}

export interface LeaseRevokeResponse {
  revision: number;
}

export interface LeaseTimeToLiveResponse {
  revision: number;
  id: number;
  /** Remaining seconds; -1 when the lease does not exist (etcd's convention). */
  ttl: number;
  grantedTtl: number;
  keys: Buffer[];
}

/** One change to the key space, as watchers see it. */
export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  kv: KeyValue;
  prevKv: KeyValue | null;
}

/** The replicated commands. Reads (Range, TimeToLive, Leases) are not commands. */
export type Command =
  | { type: 'put'; req: PutRequest }
  | { type: 'deleteRange'; req: DeleteRangeRequest }
  | { type: 'txn'; req: TxnRequest }
  | { type: 'compact'; req: CompactionRequest }
  | { type: 'leaseGrant'; req: LeaseGrantRequest }
  | { type: 'leaseRevoke'; req: LeaseRevokeRequest };

export type CommandResult =
  | { type: 'put'; res: PutResponse }
  | { type: 'deleteRange'; res: DeleteRangeResponse }
  | { type: 'txn'; res: TxnResponse }
  | { type: 'compact'; res: CompactionResponse }
  | { type: 'leaseGrant'; res: LeaseGrantResponse }
  | { type: 'leaseRevoke'; res: LeaseRevokeResponse };

/**
 * An error with etcd's gRPC status and message (for example FAILED_PRECONDITION /
 * "etcdserver: mvcc: required revision has been compacted"). A command that fails this way
 * changes nothing; the error is part of its deterministic result.
 */
export type CoordErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'OUT_OF_RANGE'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL'
  | 'CANCELLED'
  | 'UNIMPLEMENTED'
  /** What etcd's lock and election services answer for any error of their inner client. */
  | 'UNKNOWN';

export class CoordError extends Error {
  constructor(
    readonly code: CoordErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CoordError';
  }
}
