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

export function encodeSnapshot(state: SnapshotState): Buffer {
  const w = new Writer();
  w.raw(MAGIC);
  w.uint(state.appliedIndex);
  w.uint(state.minLeaseTtl);
  w.uint(state.store.currentRevision);
  w.uint(state.store.compactRevision);
  w.int(state.store.compactedAt);

  const ids = new Map<KeyValue, number>();
  w.uint(state.store.indexedKeys);
  for (const history of state.store.histories()) {
    w.bytes(history.key);
    w.uint(history.versions.length);
    for (const kv of history.versions) {
      writeKv(w, kv, false);
      ids.set(kv, ids.size);
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
  const log = state.store.logRecords();
  w.uint(log.length);
  if (log.length > 0) w.uint(log[0]!.revision);
  for (const record of log) {
    w.uint(record.events.length);
    for (const ev of record.events) {
      ref(ev.kv);
      ref(ev.prevKv);
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
