// The payload the Raft host writes to the WAL: ONE record per Ready (and per local snapshot).
//
//   ready    := kind (u8 = 4), flags (u8), [marker], count (varint), count entries, [hardState]
//   flags    := bit 0: a snapshot marker follows; bit 1: a hard state ends the record
//   marker   := index, term (varints; the snapshot itself lives in the SnapshotStore)
//   entries  := consecutive indexes, in the transport codec (writeEntry)
//   hardState:= term, vote, commit (writeHardState)
//
// Replay applies a record's parts in that order: marker, entries, hard state.
//
// Why one record: the core requires a Ready's snapshot, entries and hard state to be durable
// atomically. The WAL cuts a torn final write at its first damaged record (and may split one
// append across writes), so separate records could survive as a prefix, e.g. entries of term T
// without the hard state that raised the term to T, and the core refuses to start on a log
// with entries from a term later than its stored term. A single checksummed record is either
// wholly on disk or wholly cut. Kinds 1-3 were the earlier separate records; 4 makes such data
// fail loudly instead of being misread.
import type { Entry, HardState } from '../types.js';
import { ByteReader, ByteWriter, CodecError, readEntry, readHardState, writeEntry, writeHardState } from '../transport/index.js';

export const KIND_READY = 4;
const HAS_MARKER = 1;
const HAS_HARD_STATE = 2;

export interface SnapshotMarker {
  index: number;
  term: number;
}

export interface LogRecord {
  marker?: SnapshotMarker;
  entries: readonly Entry[];
  hardState?: HardState;
}

export function encodeLogRecord(rec: LogRecord): Buffer {
  let bytes = 64;
  for (const e of rec.entries) bytes += e.data.length + 24;
  const w = new ByteWriter(bytes);
  w.u8(KIND_READY);
  w.u8((rec.marker !== undefined ? HAS_MARKER : 0) | (rec.hardState !== undefined ? HAS_HARD_STATE : 0));
  if (rec.marker !== undefined) {
    w.varint(rec.marker.index);
    w.varint(rec.marker.term);
  }
  const { entries } = rec;
  w.varint(entries.length);
  for (let i = 0; i < entries.length; i++) {
    if (i > 0 && entries[i].index !== entries[i - 1].index + 1) {
      throw new Error(`raft storage: entries not consecutive at ${entries[i - 1].index} -> ${entries[i].index}`);
    }
    writeEntry(w, entries[i]);
  }
  if (rec.hardState !== undefined) writeHardState(w, rec.hardState);
  return w.finish();
}

export function decodeLogRecord(buf: Uint8Array): LogRecord & { entries: Entry[] } {
  const r = new ByteReader(buf);
  const kind = r.u8();
  if (kind !== KIND_READY) throw new CodecError(`raft storage: unknown WAL record kind ${kind}`);
  const flags = r.u8();
  if ((flags & ~(HAS_MARKER | HAS_HARD_STATE)) !== 0) throw new CodecError(`raft storage: unknown WAL record flags ${flags}`);
  const rec: LogRecord & { entries: Entry[] } = { entries: [] };
  if ((flags & HAS_MARKER) !== 0) rec.marker = { index: r.varint(), term: r.varint() };
  const n = r.varint();
  for (let i = 0; i < n; i++) rec.entries.push(readEntry(r));
  if ((flags & HAS_HARD_STATE) !== 0) rec.hardState = readHardState(r);
  if (!r.done) throw new CodecError('raft storage: trailing bytes in WAL record');
  return rec;
}
