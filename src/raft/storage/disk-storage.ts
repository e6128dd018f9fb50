// The Raft host's durable storage: each Ready's snapshot marker, entries and hard state as ONE
// WAL record (atomic across a crash, see records.ts; one fdatasync, shared with whatever else
// is queued), snapshot images in a SnapshotStore, and WAL segments released once a snapshot
// covers them.
import { SnapshotStore, Wal, type AppendOptions, type WalRepair, type WalStats } from '../../wal/index.js';
import type { Entry, HardState, Snapshot } from '../types.js';
import { decodeSnapshot, encodeSnapshot } from '../transport/index.js';
import type { LsnRuns } from './lsn-runs.js';
import { encodeLogRecord } from './records.js';
import { replay } from './replay.js';

export interface DiskStorageOptions {
  dir: string;
  /** fdatasync before acknowledging. Default true. */
  sync?: boolean;
  segmentBytes?: number;
  /** Snapshot files kept. Default 2. */
  retainSnapshots?: number;
}

/** What a restart finds on disk: load it into the core's MemoryStorage in this order. */
export interface RecoveredState {
  snapshot: Snapshot | null;
  entries: Entry[];
  hardState: HardState;
  /** A torn WAL tail cut during recovery, for the log. */
  repaired: WalRepair | null;
  /** Newer snapshot files skipped because their checksum failed. */
  skippedSnapshots: string[];
}

/** The durable part of a Ready. */
export interface PersistUpdate {
  snapshot?: Snapshot;
  entries: readonly Entry[];
  hardState?: HardState;
}

export class DiskStorage {
  private busy = false;
  private snapshotBusy = false;

  private constructor(
    private readonly wal: Wal,
    private readonly snapshots: SnapshotStore,
    private readonly runs: LsnRuns,
    private hardState: HardState,
  ) {}

  static async open(opts: DiskStorageOptions): Promise<{ storage: DiskStorage; state: RecoveredState }> {
    const sync = opts.sync ?? true;
    const snapshots = await SnapshotStore.open({ dir: opts.dir, retain: opts.retainSnapshots ?? 2, sync });
    const { wal, records, repaired } = await Wal.open({ dir: opts.dir, segmentBytes: opts.segmentBytes, sync });
    try {
      const latest = await snapshots.loadLatest();
      const stored = latest === null ? null : decodeSnapshot(latest.data);
      if (stored !== null && latest !== null && stored.meta.index !== latest.index) {
        throw new Error(`raft storage: snapshot file ${latest.index} holds index ${stored.meta.index}`);
      }
      const rec = replay(records, wal.firstLsn === 1, stored);
      const storage = new DiskStorage(wal, snapshots, rec.runs, rec.hardState);
      const state: RecoveredState = {
        snapshot: rec.snapshot,
        entries: rec.entries,
        hardState: rec.hardState,
        repaired,
        skippedSnapshots: latest?.skipped ?? [],
      };
      return { storage, state };
    } catch (err) {
      await wal.close();
      throw err;
    }
  }

  /**
   * Makes a Ready's snapshot, entries and hard state durable. The snapshot file is written
   * first; its marker, the entries and the hard state then go in one WAL record, so a crash
   * keeps all of them or none. Calls must not overlap (the host persists one Ready at a time).
   */
  async persist(update: PersistUpdate, options?: AppendOptions): Promise<void> {
    await this.exclusive(async () => {
      const { snapshot, entries, hardState } = update;
      if (snapshot === undefined && entries.length === 0 && hardState === undefined) return;
      if (snapshot !== undefined && this.snapshotBusy) throw new Error('raft storage: a received snapshot while a local one is being saved');
      if (snapshot !== undefined) await this.snapshots.save(snapshot.meta.index, encodeSnapshot(snapshot));
      const marker = snapshot === undefined ? undefined : { index: snapshot.meta.index, term: snapshot.meta.term };

      const lsn = this.wal.nextLsn;
      const done = this.wal.append(encodeLogRecord({ marker, entries, hardState }), options);
      // A received snapshot replaces the log, unlike a local one (see saveSnapshot).
      if (snapshot !== undefined) this.runs.clear();
      if (entries.length > 0) this.runs.wrote(entries[0].index, lsn);
      if (hardState !== undefined) this.hardState = { ...hardState };
      await done;
    });
  }

  /**
   * Stores a snapshot of the local state machine (its log entries stay) and releases the WAL
   * segments it makes redundant: everything before both its marker and the record holding
   * the entry after it.
   *
   * May run while persist() calls go on (the host writes compaction snapshots in the
   * background): the marker is appended after whatever Ready records precede it in the WAL, and
   * a local snapshot keeps the log entries after it, so replay is the same in either order. A
   * persist() carrying a received snapshot must not overlap it (the host waits for it first).
   */
  async saveSnapshot(snapshot: Snapshot): Promise<number> {
    if (this.snapshotBusy) throw new Error('raft storage: overlapping saveSnapshot calls');
    this.snapshotBusy = true;
    try {
      const { index, term } = snapshot.meta;
      await this.snapshots.save(index, encodeSnapshot(snapshot));
      const markerLsn = this.wal.nextLsn;
      // The current hard state rides along so no older record is needed for it.
      await this.wal.append(encodeLogRecord({ marker: { index, term }, entries: [], hardState: this.hardState }));
      this.runs.dropBelow(index + 1);
      const holder = this.runs.lsnOf(index + 1);
      return await this.wal.releaseBefore(holder === null ? markerLsn : Math.min(holder, markerLsn));
    } finally {
      this.snapshotBusy = false;
    }
  }

  walStats(): WalStats {
    return this.wal.stats();
  }

  async close(): Promise<void> {
    await this.wal.close();
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new Error('raft storage: overlapping persist calls');
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }
}
