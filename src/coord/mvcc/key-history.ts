// Every version of one key, oldest first. A tombstone (etcd's delete marker) is a KeyValue with
// createRevision 0: it ends a generation, and the next put starts a new one at version 1.
import type { KeyValue } from '../types.js';
import { invariant } from '../errors.js';

export const EMPTY = Buffer.alloc(0);

export function isTombstone(kv: KeyValue): boolean {
  return kv.createRevision === 0;
}

export class KeyHistory {
  /** Sorted by modRevision; two versions share a revision only inside one txn. */
  readonly versions: KeyValue[] = [];

  constructor(readonly key: Buffer) {}

  /** The live version now, or undefined when the key is deleted. */
  latest(): KeyValue | undefined {
    const v = this.versions[this.versions.length - 1];
    return v === undefined || isTombstone(v) ? undefined : v;
  }

  /** The live version as of `rev`, or undefined when the key did not exist then. */
  at(rev: number): KeyValue | undefined {
    const i = this.lastAtOrBelow(rev);
    if (i < 0) return undefined;
    const v = this.versions[i]!;
    return isTombstone(v) ? undefined : v;
  }

  append(kv: KeyValue): void {
    const last = this.versions[this.versions.length - 1];
    invariant(last === undefined || last.modRevision <= kv.modRevision, 'versions append in revision order');
    this.versions.push(kv);
  }

  /**
   * Drops what no read at or after `rev` can see: everything older than the version current at
   * `rev`, and that version too when it is a tombstone. Returns true when nothing is left.
   */
  compact(rev: number): boolean {
    const i = this.lastAtOrBelow(rev);
    if (i >= 0) {
      const drop = isTombstone(this.versions[i]!) ? i + 1 : i;
      if (drop > 0) this.versions.splice(0, drop);
    }
    return this.versions.length === 0;
  }

  private lastAtOrBelow(rev: number): number {
    const vs = this.versions;
    // Most reads are at the current revision: check the newest version first.
    const n = vs.length;
    if (n === 0) return -1;
    if (vs[n - 1]!.modRevision <= rev) return n - 1;
    let lo = 0;
    let hi = n - 1; // vs[hi].modRevision > rev
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (vs[mid]!.modRevision <= rev) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}
