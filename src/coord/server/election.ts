// v3electionpb.Election, as etcd's v3election server does it: a campaigner's key is
// `<name>/<lease hex>`; the leader is the key with the lowest create revision; Observe follows
// the leader key's puts and moves on to the next leader when it is deleted.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { bytes, int64, type WireMsg } from '../node/index.js';
import { CoordError, rangeRequest } from '../types.js';
import type { WatchMessage } from '../index.js';
import type { CoordBackend } from './backend.js';
import { serviceDefinition, type ServiceDef } from './codec.js';
import {
  asClientError,
  callSignal,
  ErrSessionExpired,
  firstCreated,
  ownershipKey,
  prefixEnd,
  rangeKvs,
  sessionLease,
  txn,
  viaClient,
  waitDeletes,
} from './recipes.js';
import { toStatus } from './status.js';
import { failStream, type OpenStreams, type Writable } from './stream.js';
import { refusalFor, streamRefusal, unary } from './unary.js';

const EMPTY = Buffer.alloc(0);

// concurrency's errors; the service answers them (like every error of its inner client) as UNKNOWN.
export const ErrNotLeader = (): CoordError => new CoordError('UNKNOWN', 'election: not leader');
export const ErrNoLeader = (): CoordError => new CoordError('UNKNOWN', 'election: no leader');
const ErrMissingLeaderKey = (): CoordError => new CoordError('UNKNOWN', '"leader" field must be provided');

interface LeaderKey {
  name: Buffer;
  key: Buffer;
  rev: number;
  lease: number;
}

/** The request's leader key; null when absent, which the handler refuses (as etcd's does). */
function leaderKeyFromWire(m: unknown): LeaderKey | null {
  if (m === null || m === undefined) return null;
  const l = m as WireMsg;
  return { name: bytes(l.name), key: bytes(l.key), rev: int64(l.rev, 'leader rev'), lease: int64(l.lease, 'leader lease') };
}

function requireLeader(leader: LeaderKey | null): LeaderKey {
  if (leader === null) throw ErrMissingLeaderKey();
  return leader;
}

/** A decoded message field that is present (protobufjs puts absent sub-messages at null). */
function present(m: WireMsg, field: string): unknown {
  return Object.prototype.hasOwnProperty.call(m, field) ? m[field] : null;
}

export function electionService(
  node: CoordBackend,
  log: Logger,
  streams: OpenStreams,
): [ServiceDef, grpc.UntypedServiceImplementation] {
  const def = serviceDefinition('v3electionpb.Election', {
    Campaign: (m) => ({ name: bytes(m.name), lease: int64(m.lease, 'lease'), value: bytes(m.value) }),
    Proclaim: (m) => ({ leader: leaderKeyFromWire(present(m, 'leader')), value: bytes(m.value) }),
    Resign: (m) => ({ leader: leaderKeyFromWire(present(m, 'leader')) }),
    Leader: (m) => ({ name: bytes(m.name) }),
    Observe: (m) => ({ name: bytes(m.name) }),
  });

  const proclaim = async (leader: LeaderKey, value: Buffer): Promise<number> => {
    const put = { key: leader.key, value, lease: leader.lease, prevKv: false, ignoreValue: false, ignoreLease: false };
    const res = await txn(node, [leader.key, leader.rev], [{ request: 'requestPut', requestPut: put }], []);
    if (!res.succeeded) throw ErrNotLeader();
    return res.revision;
  };

  const resign = async (leader: LeaderKey): Promise<number> => {
    const del = { key: leader.key, rangeEnd: EMPTY, prevKv: false };
    const res = await txn(node, [leader.key, leader.rev], [{ request: 'requestDeleteRange', requestDeleteRange: del }], []);
    return res.revision;
  };

  const campaign = async (req: { name: Buffer; lease: number; value: Buffer }, signal: AbortSignal) => {
    const lease = await sessionLease(node, req.lease);
    const prefix = Buffer.concat([req.name, Buffer.from('/')]);
    const key = ownershipKey(prefix, lease);
    const put = { key, value: req.value, lease, prevKv: false, ignoreValue: false, ignoreLease: false };
    const res = await txn(node, [key, 0], [{ request: 'requestPut', requestPut: put }], [{ request: 'requestRange', requestRange: rangeRequest(key) }]);
    const leader: LeaderKey = { name: req.name, key, rev: res.revision, lease };
    // etcd answers with the header of this first txn, however long the wait that follows.
    const revision = res.revision;
    if (!res.succeeded) {
      const kv = rangeKvs(res, 0)[0];
      leader.rev = kv.createRevision;
      if (!kv.value.equals(req.value)) await proclaim(leader, req.value);
    }
    try {
      await waitDeletes(node, prefix, leader.rev - 1, signal);
      const mine = await node.range(rangeRequest(key));
      if (mine.kvs.length === 0 || mine.kvs[0].createRevision !== leader.rev) throw ErrSessionExpired();
    } catch (err) {
      if (!node.stopping) await resign(leader).catch(() => {});
      throw err;
    }
    return { header: node.header(revision), leader };
  };

  const observe = (call: Writable) => {
    const req = call.request as { name: Buffer } | CoordError;
    if (req instanceof CoordError) return failStream(call, req, log);
    const refused = streamRefusal(node);
    if (refused !== null) return failStream(call, refused, log);
    const prefix = Buffer.concat([req.name, Buffer.from('/')]);
    let closed = false;
    let hubId = -1;
    const unwatch = () => {
      if (hubId !== -1) node.cancelWatch(hubId);
      hubId = -1;
    };
    streams.add(call, () => {
      closed = true;
      unwatch();
    });
    const next = () =>
      queueMicrotask(() => {
        unwatch();
        follow().catch((err: unknown) => failStream(call, asClientError(err), log));
      });

    // Follow one leader: announce it, relay its proclamations, and look for the next one once
    // its key is deleted. With no leader, wait for the first key put under the prefix.
    const follow = async (): Promise<void> => {
      if (closed) return;
      const res = await node.range(firstCreated(prefix));
      if (closed) return;
      const leader = res.kvs[0];
      if (leader === undefined) {
        let woken = false;
        hubId = node.watch(
          { key: prefix, rangeEnd: prefixEnd(prefix), startRevision: res.revision + 1, filters: ['NODELETE'] },
          (msg: WatchMessage) => {
            if (!woken && (msg.kind === 'events' || msg.kind === 'canceled')) {
              woken = true;
              next();
            }
            return true;
          },
        );
        return;
      }
      call.write({ header: node.header(res.revision), kv: leader });
      let gone = false;
      hubId = node.watch({ key: leader.key, startRevision: res.revision + 1 }, (msg: WatchMessage) => {
        if (gone || closed) return true;
        if (msg.kind === 'canceled') {
          gone = true;
          next();
        } else if (msg.kind === 'events') {
          for (const e of msg.events) {
            if (e.type === 'DELETE') {
              gone = true;
              next();
              return true;
            }
            call.write({ header: node.header(msg.revision), kv: e.kv });
          }
        }
        return true;
      });
    };
    follow().catch((err: unknown) => failStream(call, asClientError(err), log));
  };

  const impl: grpc.UntypedServiceImplementation = {
    Campaign: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const req = call.request as { name: Buffer; lease: number; value: Buffer } | CoordError;
      if (req instanceof CoordError) return callback(toStatus(req, log));
      const refused = refusalFor(node);
      if (refused !== null) return callback(toStatus(refused, log));
      campaign(req, callSignal(call)).then(
        (res) => callback(null, res),
        (err: unknown) => callback(toStatus(asClientError(err), log)),
      );
    },
    Proclaim: unary(
      node,
      log,
      viaClient(async (req: { leader: LeaderKey | null; value: Buffer }) => ({
        header: node.header(await proclaim(requireLeader(req.leader), req.value)),
      })),
    ),
    Resign: unary(
      node,
      log,
      viaClient(async (req: { leader: LeaderKey | null }) => ({ header: node.header(await resign(requireLeader(req.leader))) })),
    ),
    Leader: unary(
      node,
      log,
      viaClient(async (req: { name: Buffer }) => {
        const res = await node.range(firstCreated(Buffer.concat([req.name, Buffer.from('/')])));
        if (res.kvs.length === 0) throw ErrNoLeader();
        return { header: node.header(res.revision), kv: res.kvs[0] };
      }),
    ),
    Observe: observe,
  };
  return [def, impl];
}
