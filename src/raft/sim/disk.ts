// A node's disk: an append-only write-ahead log of records that are written, then made durable
// by fsync. One Ready's snapshot, entries and hard state form ONE checksummed record: the core
// refuses to start from a log holding entries of a term later than the stored term, which a
// crash between separately framed "entries" and "hardState" records would produce. A crash keeps every synced record and a random prefix of the unsynced ones, and may
// tear the first record it loses (half written). Recovery verifies each record's checksum (here:
// the torn flag stands in for a checksum mismatch) and stops at the first bad one, as a real
// WAL does. What the disk returns on recovery is exactly what the node may rely on.

import type { Entry, HardState, Snapshot } from '../types.js';
import type { Prng } from './prng.js';

export type WalRecord =
  /** What one Ready asks to persist; a snapshot received from the leader replaces the log. */
  | { kind: 'ready'; snapshot?: Snapshot; entries: Entry[]; hardState?: HardState }
  /** A snapshot of the local state machine: entries up to its index are no longer needed. */
  | { kind: 'snapshotCompact'; snapshot: Snapshot };

interface Stored {
  record: WalRecord;
  torn: boolean;
}

export interface Recovered {
  snapshot: Snapshot | undefined;
  hardState: HardState | undefined;
  entries: Entry[];
}

export interface DiskStats {
  writes: number;
  syncs: number;
  lostOnCrash: number;
  tornOnCrash: number;
}

export class Disk {
  private records: Stored[] = [];
  private synced = 0;
  readonly stats: DiskStats = { writes: 0, syncs: 0, lostOnCrash: 0, tornOnCrash: 0 };

  write(record: WalRecord): void {
    this.records.push({ record, torn: false });
    this.stats.writes++;
  }

  sync(): void {
    this.synced = this.records.length;
    this.stats.syncs++;
  }

  get unsynced(): number {
    return this.records.length - this.synced;
  }

  crash(rng: Prng): void {
    const keep = this.synced + rng.int(this.unsynced + 1);
    const lost = this.records.length - keep;
    if (lost > 0 && rng.chance(0.5)) {
      this.records[keep]!.torn = true;
      this.records.length = keep + 1;
      this.stats.tornOnCrash++;
    } else {
      this.records.length = keep;
    }
    this.stats.lostOnCrash += lost;
    // What survived a crash is on the platter now, torn tail included (recovery truncates it).
    this.synced = this.records.length;
  }

  recover(): Recovered {
    let snapshot: Snapshot | undefined;
    let hardState: HardState | undefined;
    let entries: Entry[] = [];
    let valid = 0;
    for (const { record, torn } of this.records) {
      if (torn) break;
      valid++;
      switch (record.kind) {
        case 'ready': {
          if (record.snapshot) {
            snapshot = record.snapshot;
            entries = [];
          }
          const first = record.entries[0];
          if (first) {
            const offset = entries.length > 0 ? entries[0]!.index : first.index;
            entries = entries.slice(0, Math.max(0, first.index - offset)).concat(record.entries);
          }
          if (record.hardState) hardState = record.hardState;
          break;
        }
        case 'snapshotCompact':
          snapshot = record.snapshot;
          entries = entries.filter((e) => e.index > record.snapshot.meta.index);
          break;
      }
    }
    // Recovery truncates the log at the first bad record, as a real WAL does.
    this.records.length = valid;
    this.synced = valid;
    if (snapshot) entries = entries.filter((e) => e.index > snapshot.meta.index);
    return { snapshot, hardState, entries };
  }

  /**
   * Rewrites the log as [snapshot, hardState, entries after the snapshot] (segment cleanup after
   * a snapshot). Only when everything is synced, so it never changes what a crash can lose.
   */
  compact(): void {
    if (this.unsynced > 0) return;
    const r = this.recover();
    this.records = [];
    this.write({
      kind: 'ready',
      entries: r.entries,
      ...(r.snapshot ? { snapshot: r.snapshot } : {}),
      ...(r.hardState ? { hardState: r.hardState } : {}),
    });
    this.stats.writes -= this.records.length;
    this.synced = this.records.length;
  }

  get length(): number {
    return this.records.length;
  }
}
