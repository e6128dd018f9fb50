// Binary encoding of Raft's data types: messages for the wire, entries, hard states and
// snapshots for the WAL. Every Message field is encoded unconditionally except the optional
// snapshot and context (flagged), so decode(encode(m)) equals m.
//
//   message := type u8, from, to, term, logTerm, index, commit, rejectHint (varints),
//              flags u8 (1 reject, 2 snapshot, 4 context, 8 commitOnly), entryCount, entries, [context], [snapshot]
//   entry   := type u8, term, index, data (varint length + bytes)
//   snapshot:= index, term, conf, data;  conf := 4 id lists (count + ids), autoLeave u8
import {
  ENTRY_TYPE_CODES,
  MESSAGE_TYPE_CODES,
  type ConfState,
  type Entry,
  type EntryType,
  type HardState,
  type Message,
  type MessageType,
  type NodeId,
  type Snapshot,
} from '../types.js';
import { ByteReader, ByteWriter, CodecError } from './bytes.js';

function invert<K extends string>(codes: Readonly<Record<K, number>>): K[] {
  const out: K[] = [];
  for (const [name, code] of Object.entries(codes) as [K, number][]) out[code] = name;
  return out;
}

const MESSAGE_TYPES: MessageType[] = invert(MESSAGE_TYPE_CODES);
const ENTRY_TYPES: EntryType[] = invert(ENTRY_TYPE_CODES);

const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const FLAG_CONTEXT = 4;
const FLAG_COMMIT_ONLY = 8;

export function writeEntry(w: ByteWriter, e: Entry): void {
  w.u8(ENTRY_TYPE_CODES[e.type]);
  w.varint(e.term);
  w.varint(e.index);
  w.bytes(e.data);
}

export function readEntry(r: ByteReader): Entry {
  const type = ENTRY_TYPES[r.u8()];
  if (type === undefined) throw new CodecError('codec: unknown entry type');
  return { type, term: r.varint(), index: r.varint(), data: r.bytes() };
}

function writeIds(w: ByteWriter, ids: NodeId[]): void {
  w.varint(ids.length);
  for (const id of ids) w.varint(id);
}

function readIds(r: ByteReader): NodeId[] {
  const n = r.varint();
  const ids: NodeId[] = [];
  for (let i = 0; i < n; i++) ids.push(r.varint());
  return ids;
}

export function writeConfState(w: ByteWriter, c: ConfState): void {
  writeIds(w, c.voters);
  writeIds(w, c.learners);
  writeIds(w, c.votersOutgoing);
  writeIds(w, c.learnersNext);
  w.u8(c.autoLeave ? 1 : 0);
}

export function readConfState(r: ByteReader): ConfState {
  return {
    voters: readIds(r),
    learners: readIds(r),
    votersOutgoing: readIds(r),
    learnersNext: readIds(r),
    autoLeave: r.u8() === 1,
  };
}

export function writeSnapshot(w: ByteWriter, s: Snapshot): void {
  w.varint(s.meta.index);
  w.varint(s.meta.term);
  writeConfState(w, s.meta.conf);
  w.bytes(s.data);
}

export function readSnapshot(r: ByteReader): Snapshot {
  const index = r.varint();
  const term = r.varint();
  const conf = readConfState(r);
  return { meta: { index, term, conf }, data: r.bytes() };
}

export function writeHardState(w: ByteWriter, hs: HardState): void {
  w.varint(hs.term);
  w.varint(hs.vote);
  w.varint(hs.commit);
}

export function readHardState(r: ByteReader): HardState {
  return { term: r.varint(), vote: r.varint(), commit: r.varint() };
}

export function writeMessage(w: ByteWriter, m: Message): void {
  w.u8(MESSAGE_TYPE_CODES[m.type]);
  w.varint(m.from);
  w.varint(m.to);
  w.varint(m.term);
  w.varint(m.logTerm);
  w.varint(m.index);
  w.varint(m.commit);
  w.varint(m.rejectHint);
  let flags = m.reject ? FLAG_REJECT : 0;
  if (m.snapshot !== undefined) flags |= FLAG_SNAPSHOT;
  if (m.context !== undefined) flags |= FLAG_CONTEXT;
  if (m.commitOnly === true) flags |= FLAG_COMMIT_ONLY;
  w.u8(flags);
  w.varint(m.entries.length);
  for (const e of m.entries) writeEntry(w, e);
  if (m.context !== undefined) w.bytes(m.context);
  if (m.snapshot !== undefined) writeSnapshot(w, m.snapshot);
}

export function readMessage(r: ByteReader): Message {
  const type = MESSAGE_TYPES[r.u8()];
  if (type === undefined) throw new CodecError('codec: unknown message type');
  const m: Message = {
    type,
    from: r.varint(),
    to: r.varint(),
    term: r.varint(),
    logTerm: r.varint(),
    index: r.varint(),
    commit: r.varint(),
    rejectHint: r.varint(),
    reject: false,
    entries: [],
  };
  const flags = r.u8();
  if (flags & ~(FLAG_REJECT | FLAG_SNAPSHOT | FLAG_CONTEXT | FLAG_COMMIT_ONLY)) throw new CodecError('codec: unknown message flags');
  m.reject = (flags & FLAG_REJECT) !== 0;
  if (flags & FLAG_COMMIT_ONLY) m.commitOnly = true;
  const count = r.varint();
  for (let i = 0; i < count; i++) m.entries.push(readEntry(r));
  if (flags & FLAG_CONTEXT) m.context = r.bytes();
  if (flags & FLAG_SNAPSHOT) m.snapshot = readSnapshot(r);
  return m;
}

export function encodeMessage(m: Message): Buffer {
  const w = new ByteWriter();
  writeMessage(w, m);
  return w.finish();
}

/** Decodes exactly one message filling `buf`; trailing bytes are an error. */
export function decodeMessage(buf: Uint8Array): Message {
  const r = new ByteReader(buf);
  const m = readMessage(r);
  if (!r.done) throw new CodecError('codec: trailing bytes after message');
  return m;
}

export function encodeSnapshot(s: Snapshot): Buffer {
  const w = new ByteWriter(s.data.length + 64);
  writeSnapshot(w, s);
  return w.finish();
}

export function decodeSnapshot(buf: Uint8Array): Snapshot {
  const r = new ByteReader(buf);
  const s = readSnapshot(r);
  if (!r.done) throw new CodecError('codec: trailing bytes after snapshot');
  return s;
}
