// v3lockpb.Lock, as etcd's v3lock server does it: the caller's ownership key is
// `<name>/<lease hex>` under the caller's lease; the lock is held once every key under the name
// with an earlier create revision is gone.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ErrEmptyKey } from '../errors.js';
import { bytes, int64, type WireMsg } from '../node/index.js';
import { CoordError, rangeRequest } from '../types.js';
import type { CoordBackend } from './backend.js';
import { serviceDefinition, type ServiceDef } from './codec.js';
import {
  asClientError,
  callSignal,
  ErrSessionExpired,
  firstCreated,
  ownershipKey,
  rangeKvs,
  sessionLease,
  txn,
  viaClient,
  waitDeletes,
} from './recipes.js';
import { toStatus } from './status.js';
import { refusalFor, unary } from './unary.js';

const EMPTY = Buffer.alloc(0);

interface LockRequest {
  name: Buffer;
  lease: number;
}

export function lockService(node: CoordBackend, log: Logger): [ServiceDef, grpc.UntypedServiceImplementation] {
  const def = serviceDefinition('v3lockpb.Lock', {
    Lock: (m: WireMsg): LockRequest => ({ name: bytes(m.name), lease: int64(m.lease, 'lease') }),
    Unlock: (m: WireMsg) => bytes(m.key),
  });

  const lock = async (req: LockRequest, signal: AbortSignal) => {
    const lease = await sessionLease(node, req.lease);
    const prefix = Buffer.concat([req.name, Buffer.from('/')]);
    const key = ownershipKey(prefix, lease);
    const put = { key, value: EMPTY, lease, prevKv: false, ignoreValue: false, ignoreLease: false };
    const res = await txn(
      node,
      [key, 0],
      [{ request: 'requestPut', requestPut: put }, { request: 'requestRange', requestRange: firstCreated(prefix) }],
      [{ request: 'requestRange', requestRange: rangeRequest(key) }, { request: 'requestRange', requestRange: firstCreated(prefix) }],
    );
    // Locking twice with one lease is one hold: an existing key keeps its place in line.
    const myRev = res.succeeded ? res.revision : rangeKvs(res, 0)[0].createRevision;
    const owner = rangeKvs(res, 1)[0];
    let revision = res.revision;
    if (owner === undefined || owner.createRevision !== myRev) {
      try {
        revision = await waitDeletes(node, prefix, myRev - 1, signal);
        const mine = await node.range(rangeRequest(key));
        if (mine.kvs.length === 0 || mine.kvs[0].createRevision !== myRev) throw ErrSessionExpired();
      } catch (err) {
        // Give up our place in line so later lockers are not blocked by an abandoned waiter.
        if (!node.stopping) {
          await node.propose({ type: 'deleteRange', req: { key, rangeEnd: EMPTY, prevKv: false } }).catch(() => {});
        }
        throw err;
      }
    }
    return { header: node.header(revision), key };
  };

  const impl: grpc.UntypedServiceImplementation = {
    Lock: (call: grpc.ServerUnaryCall<LockRequest | CoordError, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const req = call.request;
      if (req instanceof CoordError) return callback(toStatus(req, log));
      const refused = refusalFor(node);
      if (refused !== null) return callback(toStatus(refused, log));
      lock(req, callSignal(call)).then(
        (res) => callback(null, res),
        (err: unknown) => callback(toStatus(asClientError(err), log)),
      );
    },
    Unlock: unary(
      node,
      log,
      viaClient(async (key: Buffer) => {
        // etcd's Unlock is its client's Delete: an empty key fails there, like any Delete.
        if (key.length === 0) throw ErrEmptyKey();
        const out = await node.propose({ type: 'deleteRange', req: { key, rangeEnd: EMPTY, prevKv: false } });
        if (out.type !== 'deleteRange') throw new Error(`deleteRange answered with ${out.type}`);
        return { header: node.header(out.res.revision) };
      }),
    ),
  };
  return [def, impl];
}
