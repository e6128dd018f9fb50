// The building blocks etcd's server-side Lock and Election services share (etcd's
// clientv3/concurrency, run inside the server): ownership keys under a prefix, ordered by
// create revision, and waiting for every earlier key to be deleted.
import { CoordError, rangeRequest, type KeyValue, type RangeRequest, type RequestOp, type TxnResponse } from '../types.js';
import { ErrCompacted } from '../errors.js';
import type { WatchMessage } from '../index.js';
import type { CoordBackend } from './backend.js';

const EMPTY = Buffer.alloc(0);

export const ErrCancelled = (): CoordError => new CoordError('CANCELLED', 'context canceled');
export const ErrSessionExpired = (): CoordError =>
  new CoordError('FAILED_PRECONDITION', 'session: session is expired');

/** concurrency.NewSession's default TTL when the caller brings no lease. */
const DEFAULT_SESSION_TTL = 60;

/**
 * The caller's lease, or, like concurrency.NewSession given lease 0, a fresh lease with the
 * default session TTL (nobody keeps it alive: it expires unless the caller learns its id).
 */
export async function sessionLease(node: CoordBackend, lease: number): Promise<number> {
  if (lease !== 0) return lease;
  const out = await node.propose({ type: 'leaseGrant', req: { id: node.newLeaseId(), ttl: DEFAULT_SESSION_TTL } });
  if (out.type !== 'leaseGrant') throw new Error(`leaseGrant answered with ${out.type}`);
  return out.res.id;
}

/** The end of the range of keys starting with `prefix` (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i]++;
      return end;
    }
  }
  return Buffer.from([0]);
}

/** `name/` + the lease id in hex, as concurrency.Mutex and concurrency.Election name keys. */
export function ownershipKey(prefix: Buffer, lease: number): Buffer {
  return Buffer.concat([prefix, Buffer.from(lease.toString(16))]);
}


/** The key under `prefix` with the lowest create revision: the owner / leader. */
export function firstCreated(prefix: Buffer): RangeRequest {
  return rangeRequest(prefix, { rangeEnd: prefixEnd(prefix), limit: 1, sortOrder: 'ASCEND', sortTarget: 'CREATE' });
}

export async function txn(node: CoordBackend, compareCreate: [Buffer, number], success: RequestOp[], failure: RequestOp[]): Promise<TxnResponse> {
  const [key, createRevision] = compareCreate;
  const out = await node.propose({
    type: 'txn',
    req: {
      compare: [{ result: 'EQUAL', target: 'CREATE', key, rangeEnd: EMPTY, targetUnion: 'createRevision', createRevision }],
      success,
      failure,
    },
  });
  if (out.type !== 'txn') throw new Error(`txn answered with ${out.type}`);
  return out.res;
}

export function rangeKvs(res: TxnResponse, i: number): KeyValue[] {
  const op = res.responses[i];
  if (op === undefined || op.response !== 'responseRange') throw new Error('recipe txn: expected a range response');
  return op.responseRange.kvs;
}

/** Resolves once `key` is deleted at a revision after `afterRevision`. */
export function waitDelete(node: CoordBackend, key: Buffer, afterRevision: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(ErrCancelled());
    let done = false;
    let hubId = -1;
    const finish = (err: CoordError | null) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      // The hub may answer while watch() is still running; cancel once it has returned the id.
      queueMicrotask(() => node.cancelWatch(hubId));
      if (err === null) resolve();
      else reject(err);
    };
    const onAbort = () => finish(ErrCancelled());
    signal.addEventListener('abort', onAbort);
    const sink = (msg: WatchMessage): boolean => {
      if (msg.kind === 'events' && msg.events.some((e) => e.type === 'DELETE')) finish(null);
      else if (msg.kind === 'canceled' && !done) finish(msg.compactRevision > 0 ? ErrCompacted() : ErrCancelled());
      return true;
    };
    hubId = node.watch({ key, startRevision: afterRevision + 1, filters: ['NOPUT'] }, sink);
  });
}

/**
 * Waits until no key under `prefix` has a create revision <= maxCreateRevision (etcd's
 * waitDeletes): each round waits for the newest such key to go. Returns the last read's revision.
 */
export async function waitDeletes(node: CoordBackend, prefix: Buffer, maxCreateRevision: number, signal: AbortSignal): Promise<number> {
  const req = rangeRequest(prefix, {
    rangeEnd: prefixEnd(prefix),
    limit: 1,
    sortOrder: 'DESCEND',
    sortTarget: 'CREATE',
    maxCreateRevision,
  });
  for (;;) {
    if (signal.aborted) throw ErrCancelled();
    const res = await node.range(req);
    const last = res.kvs[0];
    if (last === undefined) return res.revision;
    await waitDelete(node, last.key, res.revision, signal);
  }
}

/**
 * etcd's lock and election services run an etcd client inside the server and return its errors
 * as they are; gRPC then answers them as UNKNOWN with the error's text. A cancelled call has no
 * one left to answer.
 */
export function asClientError(err: unknown): unknown {
  if (err instanceof CoordError && err.code !== 'CANCELLED') return new CoordError('UNKNOWN', err.message);
  return err;
}

/** A lock or election handler whose errors reach the caller as etcd's do (asClientError). */
export function viaClient<Req, Res>(handle: (req: Req) => Promise<Res>): (req: Req) => Promise<Res> {
  return (req) => handle(req).catch((err: unknown) => Promise.reject(asClientError(err)));
}

/** An AbortSignal that fires when the client cancels the call or its deadline passes. */
export function callSignal(call: { on(event: 'cancelled', fn: () => void): unknown }): AbortSignal {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort());
  return ac.signal;
}
