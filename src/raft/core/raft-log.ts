import { StorageError, type Entry, type RaftStorage, type Snapshot } from '../types.js';
import { invariant } from './assert.js';
import { limitSize } from './entry-size.js';
import { Unstable } from './unstable.js';

/**
 * The node's view of its log: the stable part in storage followed by the unstable tail, plus
 * the commit and apply positions. Invariant: applied <= committed <= lastIndex.
 */
export class RaftLog {
  readonly unstable: Unstable;
  committed: number;
  /** Highest index the host has reported applied (advance). */
  applied: number;
  /** Highest index handed to the host for applying (in a Ready not yet advanced). */
  applying: number;

  constructor(
    readonly storage: RaftStorage,
    readonly maxCommittedSizePerReady: number | undefined,
  ) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of entry i (the snapshot's term at firstIndex - 1). Throws StorageError if absent. */
  term(i: number): number {
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new StorageError('compacted', `term(${i}) below ${dummy}`);
    if (i > this.lastIndex()) throw new StorageError('unavailable', `term(${i}) beyond ${this.lastIndex()}`);
    return this.unstable.maybeTerm(i) ?? this.storage.term(i);
  }

  /** Term of entry i, or 0 when it is compacted or beyond the log. */
  termOrZero(i: number): number {
    try {
      return this.term(i);
    } catch (e) {
      if (e instanceof StorageError) return 0;
      throw e;
    }
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  matchTerm(i: number, t: number): boolean {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return false;
    return this.term(i) === t;
  }

  /** Election restriction (paper 5.4.1): a candidate's log must be at least as up to date. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Index of the first entry of `ents` that is not already in the log (index beyond the log or
   * a different term), or 0 if every entry is present.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term` (0 if none). Used by both sides of a
   * rejected append to skip a whole divergent term in one round trip instead of one entry per
   * round trip. Stops at the compaction boundary, where the snapshot takes over.
   */
  findConflictByTerm(index: number, term: number): number {
    for (let i = index; i > 0; i--) {
      let t: number;
      try {
        t = this.term(i);
      } catch (e) {
        if (e instanceof StorageError) return i;
        throw e;
      }
      if (t <= term) return i;
    }
    return 0;
  }

  /** Appends (replacing any suffix from ents[0].index on). Never touches committed entries. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    invariant(after >= this.committed, () => `truncating committed entries: after=${after} committed=${this.committed}`);
    invariant(after <= this.lastIndex(), () => `append at ${after + 1} leaves a gap after ${this.lastIndex()}`);
    for (let i = 1; i < ents.length; i++) {
      invariant(ents[i]!.index === ents[i - 1]!.index + 1, 'appended entries are not contiguous');
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Entries from `lo` to the end, up to `maxBytes` (at least one). */
  entries(lo: number, maxBytes?: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, maxBytes);
  }

  /** Entries in [lo, hi) up to `maxBytes`. Throws StorageError('compacted') below firstIndex. */
  slice(lo: number, hi: number, maxBytes?: number): Entry[] {
    invariant(lo <= hi, () => `slice lo ${lo} > hi ${hi}`);
    const first = this.firstIndex();
    if (lo < first) throw new StorageError('compacted', `slice(${lo}) below ${first}`);
    invariant(hi <= this.lastIndex() + 1, () => `slice hi ${hi} beyond ${this.lastIndex() + 1}`);
    if (lo === hi) return [];
    let ents: Entry[] = [];
    const offset = this.unstable.offset;
    if (lo < offset) {
      const stableHi = Math.min(hi, offset);
      ents = this.storage.entries(lo, stableHi, maxBytes);
      // Storage stopped early because of the byte limit: do not add unstable entries after a gap.
      if (ents.length < stableHi - lo) return ents;
    }
    if (hi > offset) {
      const tail = this.unstable.slice(Math.max(lo, offset), hi);
      ents = ents.length === 0 ? tail : ents.concat(tail);
    }
    return limitSize(ents, maxBytes);
  }

  commitTo(n: number): void {
    if (n <= this.committed) return;
    invariant(n <= this.lastIndex(), () => `commit ${n} beyond last index ${this.lastIndex()}`);
    this.committed = n;
  }

  /** Committed entries not yet handed out for applying. */
  nextCommittedEntries(): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, this.maxCommittedSizePerReady);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applying, this.firstIndex() - 1);
  }

  acceptApplying(i: number): void {
    invariant(i <= this.committed, () => `applying ${i} beyond committed ${this.committed}`);
    this.applying = Math.max(this.applying, i);
  }

  appliedTo(i: number): void {
    invariant(i <= this.committed, () => `applied ${i} beyond committed ${this.committed}`);
    invariant(i >= this.applied, () => `applied index went backwards: ${i} < ${this.applied}`);
    this.applied = i;
    this.applying = Math.max(this.applying, i);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(s: Snapshot): void {
    invariant(s.meta.index > this.committed, 'restoring a snapshot at or below commit');
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }

  /** Last index the host has durably persisted (the leader counts itself only up to here). */
  persistedLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0;
    return Math.min(this.storage.lastIndex(), this.unstable.offset - 1);
  }
}
