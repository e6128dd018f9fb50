import type { Entry, Snapshot } from '../types.js';
import { invariant } from './assert.js';

/**
 * The tail of the log the host has not yet persisted: an incoming snapshot and/or entries from
 * `offset` on. Entries here may still replace a suffix of what storage holds.
 */
export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];

  constructor(public offset: number) {}

  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.meta.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.meta.index;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      return this.snapshot !== undefined && this.snapshot.meta.index === i ? this.snapshot.meta.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }

  /** The host persisted entries up to `i` (which had term `t` when handed out). */
  stableTo(i: number, t: number): void {
    // If the entry at i was replaced meanwhile, what was persisted is already superseded.
    if (this.maybeTerm(i) !== t || i < this.offset) return;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.meta.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.meta.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const first = ents[0]!.index;
    if (first === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (first <= this.offset) {
      // Replaces everything unstable (and a suffix of storage, which the host overwrites).
      this.offset = first;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, first - this.offset).concat(ents);
    }
  }

  slice(lo: number, hi: number): Entry[] {
    invariant(
      this.offset <= lo && lo <= hi && hi <= this.offset + this.entries.length,
      () => `unstable slice [${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length})`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
