// The payloads the Raft host writes to the WAL: one kind byte, then the body.
//   entries  := count, entries (consecutive indexes)
//   hardState:= term, vote, commit
//   snapshot := index, term   (a marker: the snapshot itself lives in the SnapshotStore)
import type { Entry, HardState } from '../types.js';
import { ByteReader, ByteWriter, CodecError, readEntry, readHardState, writeEntry, writeHardState } from '../transport/index.js';

export const KIND_ENTRIES = 1;
export const KIND_HARD_STATE = 2;
export const KIND_SNAPSHOT = 3;

export type LogRecord =
  | { kind: typeof KIND_ENTRIES; entries: Entry[] }
  | { kind: typeof KIND_HARD_STATE; hardState: HardState }
  | { kind: typeof KIND_SNAPSHOT; index: number; term: number };

export function encodeEntries(entries: readonly Entry[]): Buffer {
  let bytes = 16;
  for (const e of entries) bytes += e.data.length + 24;
  const w = new ByteWriter(bytes);
  w.u8(KIND_ENTRIES);
  w.varint(entries.length);
  for (let i = 0; i < entries.length; i++) {
    if (i > 0 && entries[i].index !== entries[i - 1].index + 1) {
      throw new Error(`raft storage: entries not consecutive at ${entries[i - 1].index} -> ${entries[i].index}`);
    }
    writeEntry(w, entries[i]);
  }
  return w.finish();
}

export function encodeHardState(hs: HardState): Buffer {
  const w = new ByteWriter(32);
  w.u8(KIND_HARD_STATE);
  writeHardState(w, hs);
  return w.finish();
}

export function encodeSnapshotMarker(index: number, term: number): Buffer {
  const w = new ByteWriter(32);
  w.u8(KIND_SNAPSHOT);
  w.varint(index);
  w.varint(term);
  return w.finish();
}

export function decodeLogRecord(buf: Uint8Array): LogRecord {
  const r = new ByteReader(buf);
  const kind = r.u8();
  let rec: LogRecord;
  if (kind === KIND_ENTRIES) {
    const n = r.varint();
    const entries: Entry[] = [];
    for (let i = 0; i < n; i++) entries.push(readEntry(r));
    rec = { kind, entries };
  } else if (kind === KIND_HARD_STATE) {
    rec = { kind, hardState: readHardState(r) };
  } else if (kind === KIND_SNAPSHOT) {
    rec = { kind, index: r.varint(), term: r.varint() };
  } else {
    throw new CodecError(`raft storage: unknown WAL record kind ${kind}`);
  }
  if (!r.done) throw new CodecError('raft storage: trailing bytes in WAL record');
  return rec;
}
