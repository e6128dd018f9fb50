// Rebuilds the Raft log from WAL records (one per Ready, see records.ts: its marker, then its
// entries, then its hard state), as etcd's WAL replay does: entries from index f replace
// everything from f on (a new leader overwrote a conflicting suffix); the last hard state wins;
// a snapshot marker moves the start of the log to the snapshot, keeping the entries after it
// only when the log holds the snapshot's last entry (same index and term), as in Raft's
// InstallSnapshot rule.
import type { WalRecord } from '../../wal/index.js';
import { NONE, type Entry, type HardState, type Snapshot } from '../types.js';
import { LsnRuns } from './lsn-runs.js';
import { decodeLogRecord } from './records.js';

export class RecoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecoveryError';
  }
}

export interface Recovered {
  hardState: HardState;
  /** The snapshot the log starts after, or null when the log starts at index 1. */
  snapshot: Snapshot | null;
  /** Entries after the snapshot, consecutive. */
  entries: Entry[];
  runs: LsnRuns;
}

class ReplayLog {
  /** Index and term of the entry just before ents[0]; `known` false while the term is unknown. */
  prevIndex = 0;
  prevTerm = 0;
  known: boolean;
  ents: Entry[] = [];
  readonly runs = new LsnRuns();

  constructor(startsAtBeginning: boolean) {
    this.known = startsAtBeginning;
  }

  lastIndex(): number {
    return this.prevIndex + this.ents.length;
  }

  termAt(i: number): number | undefined {
    if (i === this.prevIndex) return this.known ? this.prevTerm : undefined;
    if (i > this.prevIndex && i <= this.lastIndex()) return this.ents[i - this.prevIndex - 1].term;
    return undefined;
  }

  append(entries: Entry[], lsn: number): void {
    if (entries.length === 0) return;
    // Released segments: the first surviving record fixes where the log starts.
    if (!this.known && this.ents.length === 0) this.prevIndex = entries[0].index - 1;
    const fresh = entries[0].index <= this.prevIndex ? entries.slice(this.prevIndex + 1 - entries[0].index) : entries;
    if (fresh.length === 0) return;
    const first = fresh[0].index;
    if (first > this.lastIndex() + 1) {
      throw new RecoveryError(`raft storage: WAL entries jump from ${this.lastIndex()} to ${first}`);
    }
    // In place: a copy per record would make replay quadratic in the log's length.
    const at = first - this.prevIndex - 1;
    if (at < this.ents.length) this.ents.length = at;
    for (const e of fresh) this.ents.push(e);
    this.runs.wrote(first, lsn);
  }

  restore(index: number, term: number): void {
    if (index < this.prevIndex) {
      throw new RecoveryError(`raft storage: snapshot at ${index} is behind the log start ${this.prevIndex}`);
    }
    // Segments released up to the record holding snapshot + 1 can leave the log starting
    // right after the snapshot, with the term there no longer on disk. Only a local snapshot
    // releases segments, and its entry is committed, so it is the entry the log continued from.
    const continues = !this.known && index === this.prevIndex;
    if (continues || this.termAt(index) === term) {
      this.ents = this.ents.slice(index - this.prevIndex);
      this.runs.dropBelow(index + 1);
    } else {
      this.ents = [];
      this.runs.clear();
    }
    this.prevIndex = index;
    this.prevTerm = term;
    this.known = true;
  }
}

/**
 * `startsAtBeginning`: the WAL still holds LSN 1 (nothing was released), so an empty prefix
 * means an empty log. `stored`: the newest valid snapshot file, if any.
 */
export function replay(records: readonly WalRecord[], startsAtBeginning: boolean, stored: Snapshot | null): Recovered {
  const log = new ReplayLog(startsAtBeginning);
  let hardState: HardState = { term: 0, vote: 0, commit: 0 };
  let markerIndex = 0;
  for (const rec of records) {
    const r = decodeLogRecord(rec.data);
    if (r.marker !== undefined) {
      log.restore(r.marker.index, r.marker.term);
      markerIndex = r.marker.index;
    }
    log.append(r.entries, rec.lsn);
    if (r.hardState !== undefined) hardState = r.hardState;
  }

  // A snapshot file newer than every marker was saved just before a crash cut its marker.
  if (stored !== null && (stored.meta.index > log.prevIndex || !log.known)) {
    if (!log.known && stored.meta.index < log.prevIndex) {
      throw new RecoveryError(
        `raft storage: the WAL starts after index ${log.prevIndex} but the newest snapshot covers only ${stored.meta.index}`,
      );
    }
    log.restore(stored.meta.index, stored.meta.term);
    // The hard state of that Ready was cut with the marker. A received snapshot can be of a
    // later term than the stored one (its Ready raised the term): the file proves that term
    // exists, so move to it without a vote, as on any message of a later term. A vote in it
    // could only have been in the cut Ready, and votes leave only once persisted.
    if (stored.meta.term > hardState.term) hardState = { term: stored.meta.term, vote: NONE, commit: hardState.commit };
  }
  if (!log.known) throw new RecoveryError(`raft storage: the WAL starts after index ${log.prevIndex} and no snapshot covers it`);
  if (log.prevIndex > 0 && (stored === null || stored.meta.index !== log.prevIndex)) {
    throw new RecoveryError(
      `raft storage: the log starts after the snapshot at ${Math.max(markerIndex, log.prevIndex)}, ` +
        `but the newest readable snapshot is ${stored === null ? 'none' : stored.meta.index}`,
    );
  }
  if (stored !== null && stored.meta.term !== log.prevTerm) {
    throw new RecoveryError(`raft storage: snapshot ${stored.meta.index} has term ${stored.meta.term}, the WAL says ${log.prevTerm}`);
  }
  // A snapshot is committed by definition; a hard state older than it may lag behind.
  hardState = { ...hardState, commit: Math.max(hardState.commit, log.prevIndex) };
  if (hardState.commit > log.lastIndex()) {
    throw new RecoveryError(`raft storage: commit ${hardState.commit} beyond the last index ${log.lastIndex()}`);
  }
  return { hardState, snapshot: log.prevIndex > 0 ? stored : null, entries: log.ents, runs: log.runs };
}
