// Watches over the key space. Synced watches get each revision's events as it is applied;
// a watch whose sink refuses a batch, or that starts in the past, is unsynced and catches up
// from the MVCC event log when the host calls catchUp(), so the store never waits on a slow
// consumer. Invariant: a watch's events arrive in revision order, each revision whole, with no
// gap and no duplicate; when history it still needs is compacted it is cancelled instead.
import type { WatchEvent } from '../types.js';
import { invariant } from '../errors.js';
import { type KeySpan, type KeyString, keyString, spanContains, spanOf } from '../mvcc/keys.js';
import type { RevisionRecord } from '../mvcc/store.js';
import type { WatchHistory } from '../state-machine.js';
import type { WatchMessage, WatchRequest, WatchSink } from './types.js';

export interface WatchHubOptions {
  /** Revisions one watch may replay per catch-up pass (bounds the work of one call). */
  catchUpRevisions?: number;
  /** Revisions per replayed message at most (a revision is never split). */
  batchRevisions?: number;
  /** A sink that throws is treated as a dead stream: its watch is dropped and this is told. */
  onSinkError?: (watchId: number, error: unknown) => void;
}

interface Watcher {
  readonly id: number;
  readonly span: KeySpan;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly progressNotify: boolean;
  readonly sink: WatchSink;
  /** The first revision this watch has not yet been given (delivered or skipped as irrelevant). */
  nextRev: number;
  synced: boolean;
  /** Events were sent since the last periodic progress notification. */
  busy: boolean;
}

export class WatchHub {
  private history: WatchHistory;
  /** The last revision passed to notify(): synced watches have seen everything up to it. */
  private lastRev: number;
  private nextId = 1;
  private readonly watchers = new Map<number, Watcher>();
  private readonly syncedByKey = new Map<KeyString, Set<Watcher>>();
  private readonly syncedRanges = new Set<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private readonly catchUpRevisions: number;
  private readonly batchRevisions: number;
  private readonly onSinkError: (watchId: number, error: unknown) => void;

  constructor(history: WatchHistory, options: WatchHubOptions = {}) {
    this.history = history;
    this.lastRev = history.currentRevision;
    this.catchUpRevisions = options.catchUpRevisions ?? 10_000;
    this.batchRevisions = options.batchRevisions ?? 100;
    this.onSinkError = options.onSinkError ?? (() => {});
  }

  get size(): number {
    return this.watchers.size;
  }

  get unsyncedCount(): number {
    return this.unsynced.size;
  }

  isSynced(watchId: number): boolean {
    return this.watchers.get(watchId)?.synced ?? false;
  }

  /** Creates a watch; sends `created`, then replays history if it starts in the past. */
  watch(req: WatchRequest, sink: WatchSink): number {
    const filters = req.filters ?? [];
    const start = req.startRevision ?? 0;
    const w: Watcher = {
      id: this.nextId++,
      span: spanOf(req.key, req.rangeEnd),
      prevKv: req.prevKv ?? false,
      noPut: filters.includes('NOPUT'),
      noDelete: filters.includes('NODELETE'),
      progressNotify: req.progressNotify ?? false,
      sink,
      nextRev: start > 0 ? start : this.lastRev + 1,
      synced: false,
      busy: false,
    };
    this.watchers.set(w.id, w);
    this.send(w, { kind: 'created', watchId: w.id, revision: this.lastRev });
    if (!this.watchers.has(w.id)) return w.id; // the sink threw
    if (w.nextRev > this.lastRev) this.markSynced(w);
    else {
      this.unsynced.add(w);
      this.catchUpOne(w);
    }
    return w.id;
  }

  /** Ends a watch (client cancel); sends `canceled`. False when there is no such watch. */
  cancel(watchId: number, reason = ''): boolean {
    const w = this.watchers.get(watchId);
    if (w === undefined) return false;
    this.remove(w);
    this.sendFinal(w, { kind: 'canceled', watchId, revision: this.lastRev, compactRevision: 0, reason });
    return true;
  }

  /** Feeds one applied revision; call for every revision, in order (CoordStateMachine.onRevision). */
  notify(record: RevisionRecord): void {
    invariant(record.revision === this.lastRev + 1, `watch hub fed revision ${record.revision} after ${this.lastRev}`);
    this.lastRev = record.revision;
    if (this.syncedByKey.size === 0 && this.syncedRanges.size === 0) return;
    const batches = new Map<Watcher, WatchEvent[]>();
    for (const ev of record.events) {
      const key = keyString(ev.kv.key);
      const exact = this.syncedByKey.get(key);
      if (exact !== undefined) for (const w of exact) this.collect(batches, w, ev);
      for (const w of this.syncedRanges) if (spanContains(w.span, key)) this.collect(batches, w, ev);
    }
    for (const [w, events] of batches) {
      // A future start revision: events before it are not this watch's. A sink may also have
      // cancelled another watch while this loop delivers.
      if (w.nextRev > record.revision || !w.synced) continue;
      if (this.send(w, { kind: 'events', watchId: w.id, revision: record.revision, events })) {
        w.busy = true;
      } else if (this.watchers.has(w.id)) {
        this.markUnsynced(w, record.revision);
      }
    }
  }

  /**
   * Sends progress (all events up to the current revision are delivered) to synced watches:
   * with `watchIds`, to those (a client's progress request); otherwise to every watch that asked
   * for progress notifications and got no events since the previous call (as etcd's ticker).
   * Unsynced watches are never told. Returns how many were notified.
   */
  progress(watchIds?: Iterable<number>): number {
    const targets: Watcher[] = [];
    if (watchIds !== undefined) {
      for (const id of watchIds) {
        const w = this.watchers.get(id);
        if (w !== undefined) targets.push(w);
      }
    } else {
      for (const w of this.watchers.values()) {
        if (!w.progressNotify) continue;
        if (w.busy) w.busy = false;
        else targets.push(w);
      }
    }
    let sent = 0;
    for (const w of targets) {
      if (!w.synced) continue;
      if (this.send(w, { kind: 'progress', watchId: w.id, revision: this.lastRev })) sent++;
    }
    return sent;
  }

  /** One replay pass over unsynced watches. Returns how many are still unsynced. */
  catchUp(): number {
    invariant(this.lastRev === this.history.currentRevision, 'the hub saw every applied revision');
    for (const w of [...this.unsynced]) if (this.unsynced.has(w)) this.catchUpOne(w);
    return this.unsynced.size;
  }

  /**
   * Switches to a restored state machine (after installing a snapshot): every watch replays from
   * where it was, or is cancelled if the new state has compacted that history.
   */
  rebind(history: WatchHistory): void {
    invariant(history.currentRevision >= this.lastRev, 'a restored state does not go back in time');
    this.history = history;
    for (const w of this.watchers.values()) {
      if (w.synced) this.markUnsynced(w, Math.max(w.nextRev, this.lastRev + 1));
    }
    this.lastRev = history.currentRevision;
    this.catchUp();
  }

  private catchUpOne(w: Watcher): void {
    const compactRev = this.history.compactRevision;
    if (w.nextRev < compactRev) {
      this.remove(w);
      this.sendFinal(w, {
        kind: 'canceled',
        watchId: w.id,
        revision: this.lastRev,
        compactRevision: compactRev,
        reason: '',
      });
      return;
    }
    const end = Math.min(this.lastRev, w.nextRev + this.catchUpRevisions - 1);
    while (w.nextRev <= end) {
      const from = w.nextRev;
      const to = Math.min(end, from + this.batchRevisions - 1);
      const events: WatchEvent[] = [];
      for (let rev = from; rev <= to; rev++) {
        for (const ev of this.history.eventsAt(rev)) {
          const selected = this.select(w, ev);
          if (selected !== undefined) events.push(selected);
        }
      }
      if (events.length > 0) {
        if (!this.send(w, { kind: 'events', watchId: w.id, revision: to, events })) return;
        w.busy = true;
      }
      w.nextRev = to + 1;
    }
    if (w.nextRev > this.lastRev) this.markSynced(w);
  }

  private collect(batches: Map<Watcher, WatchEvent[]>, w: Watcher, ev: WatchEvent): void {
    const selected = this.select(w, ev);
    if (selected === undefined) return;
    const list = batches.get(w);
    if (list === undefined) batches.set(w, [selected]);
    else list.push(selected);
  }

  private select(w: Watcher, ev: WatchEvent): WatchEvent | undefined {
    if (ev.type === 'PUT' ? w.noPut : w.noDelete) return undefined;
    if (!spanContains(w.span, keyString(ev.kv.key))) return undefined;
    return w.prevKv || ev.prevKv === null ? ev : { type: ev.type, kv: ev.kv, prevKv: null };
  }

  private markSynced(w: Watcher): void {
    this.unsynced.delete(w);
    w.synced = true;
    if (w.span.end === undefined) {
      let set = this.syncedByKey.get(w.span.start);
      if (set === undefined) this.syncedByKey.set(w.span.start, (set = new Set()));
      set.add(w);
    } else {
      this.syncedRanges.add(w);
    }
  }

  private markUnsynced(w: Watcher, nextRev: number): void {
    this.unlinkSynced(w);
    w.synced = false;
    w.nextRev = nextRev;
    this.unsynced.add(w);
  }

  private unlinkSynced(w: Watcher): void {
    if (!w.synced) return;
    if (w.span.end === undefined) {
      const set = this.syncedByKey.get(w.span.start);
      set?.delete(w);
      if (set?.size === 0) this.syncedByKey.delete(w.span.start);
    } else {
      this.syncedRanges.delete(w);
    }
  }

  private remove(w: Watcher): void {
    this.unlinkSynced(w);
    w.synced = false;
    this.unsynced.delete(w);
    this.watchers.delete(w.id);
  }

  /** False when refused or when the sink threw (the watch is then gone). */
  private send(w: Watcher, message: WatchMessage): boolean {
    try {
      return w.sink(message);
    } catch (error) {
      this.remove(w);
      this.onSinkError(w.id, error);
      return false;
    }
  }

  private sendFinal(w: Watcher, message: WatchMessage): void {
    try {
      w.sink(message);
    } catch (error) {
      this.onSinkError(w.id, error);
    }
  }
}
