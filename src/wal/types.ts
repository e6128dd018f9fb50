export interface WalRecord {
  lsn: number;
  data: Buffer;
}

export interface WalOptions {
  dir: string;
  /** A segment is closed and a new one started once the next write would pass this. Default 64 MiB. */
  segmentBytes?: number;
  /** fdatasync each write before acknowledging it. Default true; false only for tests and benches. */
  sync?: boolean;
}

/** What recovery cut from the tail of the last segment. */
export interface WalRepair {
  segment: string;
  /** Offset in the segment where the cut was made. */
  offset: number;
  truncatedBytes: number;
  /** The LSN the first cut byte should have held. */
  lsn: number;
}

export interface WalStats {
  /** Records made durable. */
  records: number;
  /** write() calls, each carrying one group of records. */
  writes: number;
  fsyncs: number;
  bytes: number;
}

/** Damage recovery must not repair: losing it would lose acknowledged records. */
export class WalCorruptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WalCorruptionError';
  }
}
