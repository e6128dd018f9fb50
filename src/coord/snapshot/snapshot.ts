// The state machine's snapshot: every key's uncompacted versions, the per-revision event log,
// leases, and the revisions and applied index. Binary, deterministic (keys in order, leases by
// id), with a CRC-32 trailer. Versions shared between key histories and the event log are
// written once and referenced, so a restored state shares them the same way.
import { crc32 } from 'node:zlib';
import type { KeyValue, WatchEvent } from '../types.js';
import { KeyHistory, isTombstone, EMPTY } from '../mvcc/key-history.js';
import { MvccStore, type RevisionRecord } from '../mvcc/store.js';
import { Reader, Writer } from './codec.js';

// Version 2 adds the compaction mark (-1: never compacted), so that compacting at revision 0
// (accepted once, as etcd does) survives a restart. Version 1 snapshots still load.
const MAGIC = Buffer.from('SHOALSM2', 'latin1');
const MAGIC_V1 = Buffer.from('SHOALSM1', 'latin1');

export interface SnapshotState {
  appliedIndex: number;
  minLeaseTtl: number;
  store: MvccStore;
  leases: { id: number; ttl: number }[];
}

/**
 * The state a snapshot encodes, captured without encoding it: copies of each key's version list
 * and of the event log. Versions and revision records are immutable, and writes and compaction
 * change only the lists, so applying more commands leaves a capture as it was. Capturing costs
 * a pointer copy per version; encoding (copying every value) can then happen later, in steps.
 */
export interface CapturedSnapshot {
  readonly appliedIndex: number;
  readonly minLeaseTtl: number;
  readonly revision: number;
  readonly compactRevision: number;
  readonly compactedAt: number;
  readonly histories: readonly { key: Buffer; versions: readonly KeyValue[] }[];
  readonly log: readonly RevisionRecord[];
  readonly leases: readonly { id: number; ttl: number }[];
}

export function captureSnapshot(state: SnapshotState): CapturedSnapshot {
  const histories: { key: Buffer; versions: readonly KeyValue[] }[] = [];
  for (const history of state.store.histories()) histories.push({ key: history.key, versions: history.versions.slice() });
  if (histories.length !== state.store.indexedKeys) throw new Error('coord snapshot: the key index changed while it was captured');
  return {
    appliedIndex: state.appliedIndex,
    minLeaseTtl: state.minLeaseTtl,
    revision: state.store.currentRevision,
    compactRevision: state.store.compactRevision,
    compactedAt: state.store.compactedAt,
    histories,
    log: state.store.logRecords().slice(),
    leases: state.leases.map((l) => ({ ...l })),
  };
}

/** Versions or events encoded between two yields of encodeSteps. */
const STEP_WORK = 4096;

/**
 * Encodes a capture, yielding after about every STEP_WORK versions or events so a caller can
 * spread a large snapshot over several event-loop turns; the generator's return value is the
 * snapshot. The bytes are those encodeSnapshot gives for the captured state.
 */
export function* encodeSteps(state: CapturedSnapshot): Generator<void, Buffer, void> {
  let work = 0;
  const w = new Writer();
  w.raw(MAGIC);
  w.uint(state.appliedIndex);
  w.uint(state.minLeaseTtl);
  w.uint(state.revision);
  w.uint(state.compactRevision);
  w.int(state.compactedAt);

  const ids = new Map<KeyValue, number>();
  w.uint(state.histories.length);
  for (const history of state.histories) {
    w.bytes(history.key);
    w.uint(history.versions.length);
    for (const kv of history.versions) {
      writeKv(w, kv, false);
      ids.set(kv, ids.size);
    }
    work += history.versions.length + 1;
    if (work >= STEP_WORK) {
      work = 0;
      yield;
    }
  }

  const ref = (kv: KeyValue | null): void => {
    if (kv === null) return w.uint(0);
    const id = ids.get(kv);
    if (id !== undefined) return w.uint(id + 2);
    // A version compacted out of its key's history that the log still shows to watchers.
    w.uint(1);
    writeKv(w, kv, true);
    ids.set(kv, ids.size);
  };
  const log = state.log;
  w.uint(log.length);
  if (log.length > 0) w.uint(log[0]!.revision);
  for (const record of log) {
    w.uint(record.events.length);
    for (const ev of record.events) {
      ref(ev.kv);
      ref(ev.prevKv);
    }
    work += record.events.length;
    if (work >= STEP_WORK) {
      work = 0;
      yield;
    }
  }

  w.uint(state.leases.length);
  for (const lease of state.leases) {
    w.int(lease.id);
    w.uint(lease.ttl);
  }
  const body = w.finish();
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(crc32(body) >>> 0);
  return Buffer.concat([body, trailer]);
}

export function encodeSnapshot(state: SnapshotState): Buffer {
  const steps = encodeSteps(captureSnapshot(state));
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

export function decodeSnapshot(buf: Buffer): SnapshotState {
  const magic = buf.subarray(0, MAGIC.length);
  const v1 = magic.equals(MAGIC_V1);
  if (buf.length < MAGIC.length + 4 || (!v1 && !magic.equals(MAGIC))) {
    throw new Error('coord snapshot: not a Shoal coordinator snapshot');
  }
  const body = buf.subarray(0, buf.length - 4);
  if ((crc32(body) >>> 0) !== buf.readUInt32LE(buf.length - 4)) throw new Error('coord snapshot: checksum mismatch');
  const r = new Reader(body);
  r.raw(MAGIC.length);
  const appliedIndex = r.uint();
  const minLeaseTtl = r.uint();
  const revision = r.uint();
  const compactRevision = r.uint();
  const compactedAt = v1 ? (compactRevision > 0 ? compactRevision : -1) : r.int();

  const table: KeyValue[] = [];
  const histories: KeyHistory[] = [];
  for (let n = r.uint(); n > 0; n--) {
    const history = new KeyHistory(r.bytes());
    for (let v = r.uint(); v > 0; v--) {
      const kv = readKv(r, history.key);
      history.append(kv);
      table.push(kv);
    }
    histories.push(history);
  }

  const deref = (): KeyValue | null => {
    const tag = r.uint();
    if (tag === 0) return null;
    if (tag === 1) {
      const kv = readKv(r, r.bytes());
      table.push(kv);
      return kv;
    }
    const kv = table[tag - 2];
    if (kv === undefined) throw new Error('coord snapshot: dangling version reference');
    return kv;
  };
  const log: RevisionRecord[] = [];
  const records = r.uint();
  const first = records > 0 ? r.uint() : 0;
  for (let i = 0; i < records; i++) {
    const events: WatchEvent[] = [];
    for (let e = r.uint(); e > 0; e--) {
      const kv = deref()!;
      const prevKv = deref();
      events.push(Object.freeze({ type: isTombstone(kv) ? ('DELETE' as const) : ('PUT' as const), kv, prevKv }));
    }
    log.push(Object.freeze({ revision: first + i, events: Object.freeze(events) }));
  }

  const leases: { id: number; ttl: number }[] = [];
  for (let n = r.uint(); n > 0; n--) leases.push({ id: r.int(), ttl: r.uint() });
  if (!r.done) throw new Error('coord snapshot: trailing bytes');

  const store = MvccStore.fromParts({ revision, compactRevision, compactedAt, histories, log });
  return { appliedIndex, minLeaseTtl, store, leases };
}

function writeKv(w: Writer, kv: KeyValue, withKey: boolean): void {
  if (withKey) w.bytes(kv.key);
  w.uint(kv.createRevision); // 0 marks a tombstone: nothing else to write
  w.uint(kv.modRevision);
  if (isTombstone(kv)) return;
  w.uint(kv.version);
  w.bytes(kv.value);
  w.int(kv.lease);
}

function readKv(r: Reader, key: Buffer): KeyValue {
  const createRevision = r.uint();
  const modRevision = r.uint();
  if (createRevision === 0) {
    return Object.freeze({ key, createRevision, modRevision, version: 0, value: EMPTY, lease: 0 });
  }
  const version = r.uint();
  const value = r.bytes();
  const lease = r.int();
  return Object.freeze({ key, createRevision, modRevision, version, value, lease });
}
