// Which WAL record holds each log index, as runs: a record that writes entries from index f
// replaces every entry from f on, so the LSN holding index i never decreases as i grows. That
// is what makes "release every segment below the record holding snapshotIndex + 1" safe.
export interface LsnRun {
  /** First log index this record holds (it holds everything up to the next run). */
  first: number;
  lsn: number;
}

export class LsnRuns {
  private runs: LsnRun[] = [];

  /** A record at `lsn` wrote entries from index `first` on (truncating what followed). */
  wrote(first: number, lsn: number): void {
    while (this.runs.length > 0 && this.runs[this.runs.length - 1].first >= first) this.runs.pop();
    const last = this.runs[this.runs.length - 1];
    if (last !== undefined && last.lsn > lsn) throw new Error(`raft storage: LSN ${lsn} below ${last.lsn}`);
    this.runs.push({ first, lsn });
  }

  /** The LSN of the record holding `index`, or null if no record holds it. */
  lsnOf(index: number): number | null {
    for (let i = this.runs.length - 1; i >= 0; i--) if (this.runs[i].first <= index) return this.runs[i].lsn;
    return null;
  }

  /** Forgets runs wholly below `index` (covered by a snapshot), keeping the one holding it. */
  dropBelow(index: number): void {
    let keepFrom = 0;
    while (keepFrom + 1 < this.runs.length && this.runs[keepFrom + 1].first <= index) keepFrom++;
    if (keepFrom > 0) this.runs = this.runs.slice(keepFrom);
  }

  clear(): void {
    this.runs = [];
  }
}
