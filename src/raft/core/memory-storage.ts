import {
  StorageError,
  type ConfState,
  type Entry,
  type HardState,
  type RaftStorage,
  type Snapshot,
} from '../types.js';
import { invariant } from './assert.js';
import { limitSize } from './entry-size.js';

const EMPTY = new Uint8Array(0);

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/**
 * The snapshot every founding member of a new cluster starts from: index 1, term 1, the initial
 * configuration and an empty image (= the state machine's initial state). Because the log then
 * starts at 2, a node that joins later with an empty log is always sent a snapshot first, and so
 * learns the full configuration from it.
 */
export function bootstrapSnapshot(conf: ConfState): Snapshot {
  return { meta: { index: 1, term: 1, conf }, data: EMPTY };
}

/**
 * An in-memory RaftStorage, the core's view of what the host has persisted (as etcd's
 * MemoryStorage). The host calls applySnapshot / append / setHardState after making a Ready
 * durable, and createSnapshot + compact when it takes a snapshot of its state machine.
 */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot = { meta: { index: 0, term: 0, conf: emptyConfState() }, data: EMPTY };
  /** ents[0] is a placeholder for the snapshot position (its index and term); never returned. */
  private ents: Entry[] = [{ term: 0, index: 0, type: 'normal', data: EMPTY }];

  /** Storage for a founding member of a new cluster with the given initial configuration. */
  static bootstrap(conf: ConfState): MemoryStorage {
    const s = new MemoryStorage();
    s.applySnapshot(bootstrapSnapshot(conf));
    s.setHardState({ term: 1, vote: 0, commit: 1 });
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.snap.meta.conf };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  private get offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  entries(lo: number, hi: number, maxBytes?: number): Entry[] {
    if (lo <= this.offset) throw new StorageError('compacted', `entries(${lo}) at or below ${this.offset}`);
    if (hi > this.lastIndex() + 1) throw new StorageError('unavailable', `entries(..${hi}) beyond ${this.lastIndex()}`);
    return limitSize(this.ents.slice(lo - this.offset, hi - this.offset), maxBytes);
  }

  term(i: number): number {
    if (i < this.offset) throw new StorageError('compacted', `term(${i}) below ${this.offset}`);
    if (i > this.lastIndex()) throw new StorageError('unavailable', `term(${i}) beyond ${this.lastIndex()}`);
    return this.ents[i - this.offset]!.term;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(s: Snapshot): void {
    if (s.meta.index < this.snap.meta.index) {
      throw new Error(`snapshot at ${s.meta.index} is older than the stored one at ${this.snap.meta.index}`);
    }
    this.snap = s;
    this.ents = [{ term: s.meta.term, index: s.meta.index, type: 'normal', data: EMPTY }];
  }

  /**
   * Records a snapshot of the state machine as of applied index `i` (with the configuration in
   * effect at i). Does not discard entries: call compact for that, possibly later so slow
   * followers can still catch up from the log.
   */
  createSnapshot(i: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.meta.index) throw new StorageError('compacted', `snapshot at ${i} is not newer`);
    invariant(i <= this.lastIndex(), () => `snapshot index ${i} beyond last index ${this.lastIndex()}`);
    this.snap = { meta: { index: i, term: this.term(i), conf }, data };
    return this.snap;
  }

  /** Discards entries up to and including `i` (i must be covered by a snapshot the host keeps). */
  compact(i: number): void {
    if (i <= this.offset) throw new StorageError('compacted', `compact(${i}) at or below ${this.offset}`);
    invariant(i <= this.lastIndex(), () => `compact ${i} beyond last index ${this.lastIndex()}`);
    const term = this.term(i);
    this.ents = [{ term, index: i, type: 'normal', data: EMPTY }, ...this.ents.slice(i - this.offset + 1)];
  }

  /** Appends persisted entries; entries from ents[0].index on replace what was there. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[entries.length - 1]!.index;
    if (last < first) return; // all already compacted
    const fresh = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const at = fresh[0]!.index - this.offset;
    invariant(at <= this.ents.length, () => `append at ${fresh[0]!.index} leaves a gap after ${this.lastIndex()}`);
    // Appending at the end (the usual case) must not copy the log: it holds up to a snapshot's
    // worth of entries (--snapshot-count, 100,000 by default), and a copy per append made every
    // write cost time in proportion to the log's length.
    if (at < this.ents.length) this.ents.length = at;
    for (const e of fresh) this.ents.push(e);
  }
}
