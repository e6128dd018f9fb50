// The host wraps each proposed command so the node that proposed it can recognise it when it
// is applied, wherever it was forwarded: proposer id, a random incarnation (so entries from
// before a restart never match a new request) and a sequence number.
//   envelope := version u8 (1), proposer, incarnation, seq (varints), command bytes
import { ByteReader, ByteWriter, CodecError } from '../transport/index.js';
import type { NodeId } from '../types.js';

const VERSION = 1;

export interface Envelope {
  proposer: NodeId;
  incarnation: number;
  seq: number;
  command: Uint8Array;
}

export function encodeEnvelope(e: Envelope): Buffer {
  const w = new ByteWriter(e.command.length + 24);
  w.u8(VERSION);
  w.varint(e.proposer);
  w.varint(e.incarnation);
  w.varint(e.seq);
  const out = w.finish();
  return Buffer.concat([out, e.command]);
}

export function decodeEnvelope(data: Uint8Array): Envelope {
  const r = new ByteReader(data);
  const version = r.u8();
  if (version !== VERSION) throw new CodecError(`raft host: unknown entry envelope version ${version}`);
  const proposer = r.varint();
  const incarnation = r.varint();
  const seq = r.varint();
  return { proposer, incarnation, seq, command: data.subarray(r.offset) };
}
