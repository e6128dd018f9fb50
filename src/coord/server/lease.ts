// etcdserverpb.Lease: grant, revoke, keep-alive stream, time-to-live, list.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ErrLeaseTtlTooLarge } from '../errors.js';
import { int64, leaseGrantFromWire, leaseRevokeFromWire, type WireMsg } from '../node/index.js';
import { CoordError, type LeaseGrantRequest, type LeaseRevokeRequest } from '../types.js';
import type { CoordBackend } from './backend.js';
import { serviceDefinition, type ServiceDef } from './codec.js';
import { isForwarded } from './leader-client.js';
import { failStream, type Duplex, type OpenStreams } from './stream.js';
import { streamRefusal, unary } from './unary.js';

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const MAX_LEASE_TTL = 9_000_000_000;

interface TimeToLiveRequest {
  id: number;
  keys: boolean;
}

export function leaseService(
  node: CoordBackend,
  log: Logger,
  streams: OpenStreams,
): [ServiceDef, grpc.UntypedServiceImplementation] {
  const def = serviceDefinition('etcdserverpb.Lease', {
    LeaseGrant: leaseGrantFromWire,
    LeaseRevoke: leaseRevokeFromWire,
    LeaseKeepAlive: (m: WireMsg) => int64(m.ID, 'lease ID'),
    LeaseTimeToLive: (m: WireMsg): TimeToLiveRequest => ({ id: int64(m.ID, 'lease ID'), keys: m.keys === true }),
  });

  const keepAlive = (call: Duplex) => {
    const refused = streamRefusal(node);
    if (refused !== null) return failStream(call, refused, log);
    streams.add(call, () => {});
    const forwarded = isForwarded(call.metadata);
    // Answers go out in request order even when some are forwarded to the leader.
    let last: Promise<void> = Promise.resolve();
    call.on('data', (id: number | CoordError) => {
      if (id instanceof CoordError) return failStream(call, id, log);
      if (node.stopping) return call.end();
      let ttl: number | Promise<number>;
      try {
        // An unknown or expired lease answers TTL 0, as etcd does; the stream stays open.
        ttl = node.leaseKeepAlive(id, forwarded);
      } catch (err) {
        return failStream(call, err, log);
      }
      // A forwarded renewal can fail (leadership moved) before the answers queued ahead of it
      // are written; its rejection is handled in order below, so mark it handled now — an
      // unhandled rejection would end the process.
      if (ttl instanceof Promise) ttl.catch(() => undefined);
      last = last.then(async () => {
        try {
          const value = await ttl;
          if (!call.writableEnded && !call.destroyed) call.write({ header: node.header(node.revision), ID: id, TTL: value });
        } catch (err) {
          failStream(call, err, log);
        }
      });
    });
    call.on('end', () => void last.then(() => call.end()));
  };

  const impl: grpc.UntypedServiceImplementation = {
    LeaseGrant: unary(node, log, async (req: LeaseGrantRequest) => {
      if (req.ttl > MAX_LEASE_TTL) throw ErrLeaseTtlTooLarge();
      const id = req.id === 0 ? node.newLeaseId() : req.id;
      const out = await node.propose({ type: 'leaseGrant', req: { id, ttl: req.ttl } });
      if (out.type !== 'leaseGrant') throw new Error(`leaseGrant answered with ${out.type}`);
      return { header: node.header(out.res.revision), ID: out.res.id, TTL: out.res.ttl, error: '' };
    }),
    LeaseRevoke: unary(node, log, async (req: LeaseRevokeRequest) => {
      const out = await node.propose({ type: 'leaseRevoke', req });
      if (out.type !== 'leaseRevoke') throw new Error(`leaseRevoke answered with ${out.type}`);
      return { header: node.header(out.res.revision) };
    }),
    LeaseKeepAlive: keepAlive,
    LeaseTimeToLive: (call: grpc.ServerUnaryCall<TimeToLiveRequest | CoordError, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const forwarded = isForwarded(call.metadata);
      unary(node, log, async (req: TimeToLiveRequest) => {
        const r = await node.leaseTimeToLive(req.id, req.keys, forwarded);
        return { header: node.header(r.revision), ID: r.id, TTL: r.ttl, grantedTTL: r.grantedTtl, keys: r.keys };
      })(call, callback);
    },
    LeaseLeases: unary(node, log, () => ({
      header: node.header(node.revision),
      leases: node.leaseIds().map((id) => ({ ID: id })),
    })),
  };
  return [def, impl];
}
