// Reading a segment back and classifying damage.
//
// The writer has at most one write+fdatasync in flight and starts the next write only after the
// previous fdatasync returned, so only the final write to the last segment can be torn. A torn
// write may land out of order (pages written back in any order), so valid frames of the same
// write can follow a damaged one; cutting them is safe because that write was never
// acknowledged. A valid frame whose write started *after* the damaged record, however, proves the
// damaged record's write had been fsynced and acknowledged: that is real data loss.
import { decodeRecord, MAX_RECORD_BYTES, RECORD_HEADER_BYTES } from './record.js';
import type { WalRecord } from './types.js';

export interface SegmentDamage {
  /** Offset of the first byte that is not part of a valid, in-sequence record. */
  offset: number;
  /** The LSN the damaged position should have held. */
  lsn: number;
  /** A valid record after the damage that was written by a later write, if any. */
  laterWriteLsn: number | null;
}

export interface SegmentScan {
  records: WalRecord[];
  /** Bytes from the start holding valid records: the length to keep when repairing. */
  validBytes: number;
  damage: SegmentDamage | null;
}

export function scanSegment(buf: Buffer, firstLsn: number): SegmentScan {
  const records: WalRecord[] = [];
  let offset = 0;
  let expected = firstLsn;
  while (offset < buf.length) {
    const rec = decodeRecord(buf, offset);
    if (rec === null || rec.lsn !== expected || rec.batchIndex >= rec.lsn) break;
    records.push({ lsn: rec.lsn, data: rec.data });
    offset = rec.end;
    expected++;
  }
  // The rest of an active segment may be zeros written ahead of the records (wal.ts): the end.
  if (offset === buf.length || isZero(buf, offset)) return { records, validBytes: offset, damage: null };
  return {
    records,
    validBytes: offset,
    damage: { offset, lsn: expected, laterWriteLsn: findLaterWrite(buf, offset + 1, expected) },
  };
}

/**
 * Looks at every byte offset from `from` for a valid frame whose write began after `damagedLsn`
 * (lsn - batchIndex > damagedLsn). Only runs on a damaged tail, so a byte-wise search is fine.
 */
function findLaterWrite(buf: Buffer, from: number, damagedLsn: number): number | null {
  const last = buf.length - RECORD_HEADER_BYTES;
  for (let pos = from; pos <= last; pos++) {
    // Cheap filters before the checksum: plausible length, high word and write start.
    const length = buf.readUInt32LE(pos);
    if (length > MAX_RECORD_BYTES || pos + RECORD_HEADER_BYTES + length > buf.length) continue;
    if (buf.readUInt32LE(pos + 12) >= 1 << 21) continue;
    const rec = decodeRecord(buf, pos);
    if (rec !== null && rec.lsn - rec.batchIndex > damagedLsn) return rec.lsn;
  }
  return null;
}

function isZero(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}
