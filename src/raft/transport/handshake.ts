// The first frame on a peer connection names the cluster and both ends, so a node dialing a
// stale or wrong address (another cluster, a different member on a reused port) is refused
// instead of having its messages stepped into the wrong Raft group.
import { ByteReader, ByteWriter, CodecError } from './bytes.js';
import type { NodeId } from '../types.js';

export const PROTOCOL_VERSION = 1;

export interface Hello {
  version: number;
  clusterId: string;
  from: NodeId;
  to: NodeId;
}

export type HelloAck = { ok: true } | { ok: false; reason: string };

export function writeHello(w: ByteWriter, h: Hello): void {
  w.u8(h.version);
  w.bytes(Buffer.from(h.clusterId, 'utf8'));
  w.varint(h.from);
  w.varint(h.to);
}

export function readHello(buf: Uint8Array): Hello {
  const r = new ByteReader(buf);
  const hello = { version: r.u8(), clusterId: Buffer.from(r.bytes()).toString('utf8'), from: r.varint(), to: r.varint() };
  if (!r.done) throw new CodecError('handshake: trailing bytes');
  return hello;
}

export function writeAck(w: ByteWriter, ack: HelloAck): void {
  w.u8(ack.ok ? 0 : 1);
  w.bytes(Buffer.from(ack.ok ? '' : ack.reason, 'utf8'));
}

export function readAck(buf: Uint8Array): HelloAck {
  const r = new ByteReader(buf);
  const status = r.u8();
  const reason = Buffer.from(r.bytes()).toString('utf8');
  return status === 0 ? { ok: true } : { ok: false, reason };
}

/** Why the receiving node refuses `hello`, or null to accept it. */
export function checkHello(hello: Hello, clusterId: string, self: NodeId): string | null {
  if (hello.version !== PROTOCOL_VERSION) return `protocol version ${hello.version}, expected ${PROTOCOL_VERSION}`;
  if (hello.clusterId !== clusterId) return `cluster "${hello.clusterId}", this is cluster "${clusterId}"`;
  if (hello.to !== self) return `addressed to node ${hello.to}, this is node ${self}`;
  if (hello.from === self || hello.from === 0) return `invalid sender id ${hello.from}`;
  return null;
}
