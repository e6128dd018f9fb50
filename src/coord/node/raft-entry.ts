// What a Raft log entry of the coordinator carries: a kind byte, then either a coordinator
// Command (the shoalpb.Command record the single-node WAL stores too) or a cluster command
// (member attributes), so membership data is ordered with the key space in one log. The Raft
// snapshot image is the cluster state followed by the key space's snapshot.
import type { Command } from '../types.js';
import type { ClusterCommand } from './cluster-state.js';
import { decodeCommand, encodeCommand } from './command-codec.js';

const KIND_COMMAND = 1;
const KIND_CLUSTER = 2;

export type RaftPayload = { kind: 'command'; cmd: Command } | { kind: 'cluster'; cmd: ClusterCommand };

export function encodeCommandEntry(cmd: Command): Buffer {
  const body = encodeCommand(cmd);
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = KIND_COMMAND;
  body.copy(out, 1);
  return out;
}

export function encodeClusterEntry(cmd: ClusterCommand): Buffer {
  return Buffer.concat([Buffer.from([KIND_CLUSTER]), Buffer.from(JSON.stringify(cmd), 'utf8')]);
}

export function decodeEntry(data: Uint8Array): RaftPayload {
  // A Buffer view, not a copy: protobufjs decodes bytes fields of a Buffer as Buffers.
  const body = Buffer.from(data.buffer, data.byteOffset, data.length).subarray(1);
  switch (data[0]) {
    case KIND_COMMAND:
      return { kind: 'command', cmd: decodeCommand(body) };
    case KIND_CLUSTER:
      return { kind: 'cluster', cmd: JSON.parse(body.toString('utf8')) as ClusterCommand };
    default:
      throw new Error(`coord: raft entry of unknown kind ${data[0]}`);
  }
}

/** Snapshot image: u32 length of the cluster state, the cluster state, the key-space snapshot. */
export function encodeImage(cluster: Buffer, keySpace: Buffer): Buffer {
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(cluster.length, 0);
  return Buffer.concat([head, cluster, keySpace]);
}

export function decodeImage(image: Uint8Array): { cluster: Buffer; keySpace: Buffer } {
  const buf = Buffer.from(image.buffer, image.byteOffset, image.length);
  if (buf.length < 4) throw new Error('coord: raft snapshot image too short');
  const n = buf.readUInt32BE(0);
  if (4 + n > buf.length) throw new Error('coord: raft snapshot image truncated');
  return { cluster: buf.subarray(4, 4 + n), keySpace: buf.subarray(4 + n) };
}
