// A follower's line to the leader for what only the leader can answer: lease keep-alives (the
// leader's Lessor holds the deadlines) and the remaining TTL. It calls the leader's own etcd
// Lease API at its published client URL — one keep-alive stream, answered in order — marking
// each call as forwarded so the receiver never forwards it again (it answers "not leader"
// instead, and the follower retries once leadership settles).
import * as grpc from '@grpc/grpc-js';
import type { LeaderClient } from '../node/index.js';
import { int64, type WireMsg } from '../node/index.js';
import { CoordError, type CoordErrorCode, type LeaseTimeToLiveResponse } from '../types.js';
import { serviceDefinition } from './codec.js';

/** gRPC metadata key set on forwarded calls. */
export const FORWARDED_HEADER = 'shoal-forwarded';
const CALL_TIMEOUT_MS = 3000;

interface Pending {
  resolve: (ttl: number) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface Channel {
  url: string;
  client: grpc.Client;
  stream: grpc.ClientDuplexStream<unknown, WireMsg> | null;
  pending: Pending[];
}

type LeaseClient = grpc.Client & {
  LeaseKeepAlive(metadata: grpc.Metadata): grpc.ClientDuplexStream<unknown, WireMsg>;
  LeaseTimeToLive(req: object, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: WireMsg) => void): void;
};

export function isForwarded(metadata: grpc.Metadata): boolean {
  return metadata.get(FORWARDED_HEADER).length > 0;
}

export class GrpcLeaderClient implements LeaderClient {
  private readonly Ctor = grpc.makeGenericClientConstructor(serviceDefinition('etcdserverpb.Lease'), 'Lease');
  private channel: Channel | null = null;
  private closed = false;

  keepAlive(url: string, id: number): Promise<number> {
    const ch = this.channelFor(url);
    return new Promise<number>((resolve, reject) => {
      const stream = this.streamOf(ch);
      const p: Pending = {
        resolve,
        reject,
        timer: setTimeout(() => this.reset(ch, new CoordError('UNAVAILABLE', 'etcdserver: request timed out')), CALL_TIMEOUT_MS),
      };
      ch.pending.push(p);
      stream.write({ ID: id });
    });
  }

  timeToLive(url: string, id: number, keys: boolean): Promise<LeaseTimeToLiveResponse> {
    const ch = this.channelFor(url);
    const client = ch.client as LeaseClient;
    return new Promise((resolve, reject) => {
      client.LeaseTimeToLive({ ID: id, keys }, forwardedMetadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => {
        if (err !== null || res === undefined) return reject(toCoordError(err));
        const header = res.header as WireMsg;
        resolve({
          revision: int64(header.revision, 'revision'),
          id: int64(res.ID, 'ID'),
          ttl: int64(res.TTL, 'TTL'),
          grantedTtl: int64(res.grantedTTL, 'grantedTTL'),
          keys: (res.keys as Buffer[]).map((k) => Buffer.from(k)),
        });
      });
    });
  }

  close(): void {
    this.closed = true;
    if (this.channel !== null) this.reset(this.channel, new CoordError('UNAVAILABLE', 'etcdserver: server stopped'));
  }

  private channelFor(url: string): Channel {
    if (this.closed) throw new CoordError('UNAVAILABLE', 'etcdserver: server stopped');
    if (this.channel !== null && this.channel.url === url) return this.channel;
    if (this.channel !== null) this.reset(this.channel, new CoordError('UNAVAILABLE', 'etcdserver: leader changed'));
    const target = url.replace(/^https?:\/\//, '');
    this.channel = { url, client: new this.Ctor(target, grpc.credentials.createInsecure()), stream: null, pending: [] };
    return this.channel;
  }

  private streamOf(ch: Channel): grpc.ClientDuplexStream<unknown, WireMsg> {
    if (ch.stream !== null) return ch.stream;
    const stream = (ch.client as LeaseClient).LeaseKeepAlive(forwardedMetadata());
    ch.stream = stream;
    stream.on('data', (res: WireMsg) => {
      const p = ch.pending.shift();
      if (p === undefined) return;
      clearTimeout(p.timer);
      p.resolve(int64(res.TTL, 'TTL'));
    });
    stream.on('error', (err: grpc.ServiceError) => this.failStream(ch, stream, toCoordError(err)));
    stream.on('end', () => this.failStream(ch, stream, new CoordError('UNAVAILABLE', 'etcdserver: leader changed')));
    return stream;
  }

  private failStream(ch: Channel, stream: grpc.ClientDuplexStream<unknown, WireMsg>, err: CoordError): void {
    if (ch.stream !== stream) return;
    ch.stream = null;
    for (const p of ch.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    stream.cancel();
  }

  /** Drops the channel: everything pending fails with `err` (its outcome at the leader is unknown). */
  private reset(ch: Channel, err: CoordError): void {
    if (ch.stream !== null) this.failStream(ch, ch.stream, err);
    for (const p of ch.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    ch.client.close();
    if (this.channel === ch) this.channel = null;
  }
}

function forwardedMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(FORWARDED_HEADER, '1');
  return md;
}

function toCoordError(err: grpc.ServiceError | null): CoordError {
  if (err === null) return new CoordError('UNAVAILABLE', 'etcdserver: no answer from the leader');
  const name = grpc.status[err.code] as CoordErrorCode | undefined;
  // A leader that cannot be reached is a leader that is not there (yet): retried by the caller.
  const code: CoordErrorCode = name === undefined || name === 'DEADLINE_EXCEEDED' ? 'UNAVAILABLE' : name;
  return new CoordError(code, err.details || err.message);
}
