// The multi-version key space: an ordered key index (B+ tree) whose values are per-key version
// lists, plus a log of each revision's events for watchers. Writes append versions; nothing is
// copied. Compaction trims versions and log records no read or watch at or after it can see.
import type { KeyValue, WatchEvent } from '../types.js';
import { ErrCompacted, ErrFutureRev, invariant } from '../errors.js';
import { BTree } from './btree.js';
import { EMPTY, KeyHistory } from './key-history.js';
import { type KeySpan, type KeyString, spanIsEmpty } from './keys.js';

const compareKeys = (a: KeyString, b: KeyString): number => (a < b ? -1 : a > b ? 1 : 0);

/** The events of one revision, in sub-revision order. */
export interface RevisionRecord {
  readonly revision: number;
  readonly events: readonly WatchEvent[];
}

export class MvccStore {
  // Keys are strings only: plain string order, the order sorted-btree's default comparator
  // gives strings, without its per-comparison type checks (hot in every put and range).
  private readonly index = new BTree<KeyString, KeyHistory>(undefined, compareKeys);
  private rev = 1;
  private compactRev = 0;
  /** etcd's compactMainRev: the last compaction's revision, -1 before any (so compacting at 0 is accepted once). */
  private compactMain = -1;
  /** Every revision from max(2, compactRev) to rev, contiguous: each revision has >= 1 event. */
  private readonly log: RevisionRecord[] = [];
  private openBatch: WriteBatch | null = null;

  /** etcd's header revision: 1 for an empty store, +1 per write that changed something. */
  get currentRevision(): number {
    return this.rev;
  }

  /** Reads below this revision fail as compacted; 0 before the first compaction. */
  get compactRevision(): number {
    return this.compactRev;
  }

  /** The revision of the last compaction, -1 before any (etcd's compactMainRev, as HashKV reports it). */
  get compactedAt(): number {
    return this.compactMain;
  }

  /** Number of keys in the index, including deleted keys whose history is not yet compacted. */
  get indexedKeys(): number {
    return this.index.size;
  }

  /** Throws etcd's errors for reads at a revision outside [compactRev, rev]; 0 = now. */
  checkReadRevision(revision: number): void {
    if (revision > this.rev) throw ErrFutureRev();
    if (revision > 0 && revision < this.compactRev) throw ErrCompacted();
  }

  get(key: KeyString, atRev: number): KeyValue | undefined {
    return this.index.get(key)?.at(atRev);
  }

  /** Visits the keys live at `atRev` within `span`, in ascending key order. */
  scan(span: KeySpan, atRev: number, visit: (kv: KeyValue) => void): void {
    if (span.end === undefined) {
      const kv = this.get(span.start, atRev);
      if (kv !== undefined) visit(kv);
      return;
    }
    if (spanIsEmpty(span)) return;
    let high = span.end;
    let includeHigh = false;
    if (high === '') {
      const max = this.index.maxKey();
      if (max === undefined || max < span.start) return;
      high = max;
      includeHigh = true;
    }
    this.index.forRange(span.start, high, includeHigh, (_k, history) => {
      const kv = history.at(atRev);
      if (kv !== undefined) visit(kv);
    });
  }

  /** The events of `revision`; empty for revisions without events (1) or outside the log. */
  eventsAt(revision: number): readonly WatchEvent[] {
    const first = this.log[0];
    if (first === undefined) return [];
    const record = this.log[revision - first.revision];
    return record === undefined ? [] : record.events;
  }

  /** Starts the only write batch; it must be committed before another begins. */
  beginWrite(): WriteBatch {
    invariant(this.openBatch === null, 'one write batch at a time');
    this.openBatch = new WriteBatch(this, this.rev + 1);
    return this.openBatch;
  }

  compact(revision: number): void {
    if (revision <= this.compactMain) throw ErrCompacted();
    if (revision > this.rev) throw ErrFutureRev();
    invariant(this.openBatch === null, 'no compaction inside a write batch');
    // Since the last compaction every key has at most one version at or below it, so only keys
    // written after it can have anything to drop: walk those revisions, not the whole index.
    const touched = new Set<KeyString>();
    const first = this.log[0]?.revision ?? revision + 1;
    for (let r = Math.max(first, this.compactRev + 1); r <= revision; r++) {
      for (const ev of this.log[r - first]!.events) touched.add(ev.kv.key.toString('latin1'));
    }
    for (const key of touched) {
      const history = this.index.get(key);
      if (history !== undefined && history.compact(revision)) this.index.delete(key);
    }
    // Keep the record of `revision` itself: a watch may start there (etcd allows start == compactRev).
    const drop = Math.max(0, revision - first);
    if (drop > 0) this.log.splice(0, drop);
    this.compactRev = revision;
    this.compactMain = revision;
  }

  /** Internal to the write path. */
  commitBatch(batch: WriteBatch): RevisionRecord | undefined {
    invariant(this.openBatch === batch, 'committing the open batch');
    this.openBatch = null;
    if (batch.events.length === 0) return undefined;
    invariant(batch.revision === this.rev + 1, 'revisions advance by one');
    const record: RevisionRecord = Object.freeze({ revision: batch.revision, events: Object.freeze(batch.events) });
    this.log.push(record);
    this.rev = batch.revision;
    return record;
  }

  /** Internal to the write path. */
  historyFor(key: KeyString, keyBytes: Buffer, create: boolean): KeyHistory | undefined {
    let history = this.index.get(key);
    if (history === undefined && create) {
      // Copy: request buffers may be views into larger, reused network buffers.
      history = new KeyHistory(Buffer.from(keyBytes));
      this.index.set(key, history);
    }
    return history;
  }

  /** Internal to the write path: histories within a span, in key order. */
  historiesIn(span: KeySpan): KeyHistory[] {
    if (span.end === undefined) {
      const h = this.index.get(span.start);
      return h === undefined ? [] : [h];
    }
    const out: KeyHistory[] = [];
    if (spanIsEmpty(span)) return out;
    let high = span.end;
    let includeHigh = false;
    if (high === '') {
      const max = this.index.maxKey();
      if (max === undefined || max < span.start) return out;
      high = max;
      includeHigh = true;
    }
    this.index.forRange(span.start, high, includeHigh, (_k, h) => {
      out.push(h);
    });
    return out;
  }

  // ---- snapshot support -------------------------------------------------------------------

  /** Every key's history in key order (deleted keys included until compacted). */
  histories(): IterableIterator<KeyHistory> {
    return this.index.values();
  }

  logRecords(): readonly RevisionRecord[] {
    return this.log;
  }

  static fromParts(parts: {
    revision: number;
    compactRevision: number;
    /** -1 when the store was never compacted. */
    compactedAt: number;
    histories: KeyHistory[];
    log: RevisionRecord[];
  }): MvccStore {
    const store = new MvccStore();
    store.rev = parts.revision;
    store.compactRev = parts.compactRevision;
    store.compactMain = parts.compactedAt;
    for (const h of parts.histories) store.index.set(h.key.toString('latin1'), h);
    store.log.push(...parts.log);
    store.assertLogShape();
    return store;
  }

  private assertLogShape(): void {
    invariant(this.compactMain === this.compactRev || (this.compactMain === -1 && this.compactRev === 0), 'compaction marks agree');
    const first = this.log[0];
    if (first === undefined) {
      invariant(this.rev === 1, 'the log is empty only before the first write');
      return;
    }
    invariant(first.revision === Math.max(2, this.compactRev), 'log starts at the compact revision');
    invariant(first.revision + this.log.length - 1 === this.rev, 'log is contiguous up to the current revision');
  }
}

export class WriteBatch {
  readonly events: WatchEvent[] = [];

  constructor(
    private readonly store: MvccStore,
    /** The revision this batch writes, if it writes anything. */
    readonly revision: number,
  ) {}

  /** The revision reads inside the batch see: its own writes once it has any (as etcd's txn). */
  get viewRevision(): number {
    return this.events.length > 0 ? this.revision : this.revision - 1;
  }

  /** The key's live version as this batch sees it. */
  latest(key: KeyString): KeyValue | undefined {
    return this.store.historyFor(key, EMPTY, false)?.latest();
  }

  put(key: KeyString, keyBytes: Buffer, value: Buffer, lease: number): { kv: KeyValue; prev: KeyValue | undefined } {
    const history = this.store.historyFor(key, keyBytes, true)!;
    const prev = history.latest();
    const kv: KeyValue = Object.freeze({
      key: history.key,
      createRevision: prev === undefined ? this.revision : prev.createRevision,
      modRevision: this.revision,
      version: prev === undefined ? 1 : prev.version + 1,
      value: Buffer.from(value),
      lease,
    });
    history.append(kv);
    this.events.push(Object.freeze({ type: 'PUT' as const, kv, prevKv: prev ?? null }));
    return { kv, prev };
  }

  /** Deletes every live key in the span; returns the deleted versions in key order. */
  deleteRange(span: KeySpan): KeyValue[] {
    const deleted: KeyValue[] = [];
    for (const history of this.store.historiesIn(span)) {
      const prev = history.latest();
      if (prev === undefined) continue;
      // etcd's tombstone: only key and mod revision are set; watchers see it as the DELETE kv.
      const tombstone: KeyValue = Object.freeze({
        key: history.key,
        createRevision: 0,
        modRevision: this.revision,
        version: 0,
        value: EMPTY,
        lease: 0,
      });
      history.append(tombstone);
      this.events.push(Object.freeze({ type: 'DELETE' as const, kv: tombstone, prevKv: prev }));
      deleted.push(prev);
    }
    return deleted;
  }

  commit(): RevisionRecord | undefined {
    return this.store.commitBatch(this);
  }
}
