// The on-disk record frame.
//
//   offset  size  field
//   0       4     payload length (u32 LE)
//   4       4     CRC-32 of bytes [8, 20 + length): lsn, batchIndex and payload
//   8       8     lsn (u64 LE; below 2^53 so it stays an exact JS number)
//   16      4     batchIndex: position of this record inside the write that carried it
//   20      n     payload
//
// The LSN is inside the checksum so a stale or misplaced frame never verifies as the record
// expected at that position. batchIndex lets recovery tell a torn final write (safe to cut) from
// corruption of an earlier, acknowledged write (data loss): see scan.ts.
import { crc32 } from 'node:zlib';

export const RECORD_HEADER_BYTES = 20;
/** A length above this is treated as garbage, not as a record to read. */
export const MAX_RECORD_BYTES = 1 << 30;

const TWO_32 = 2 ** 32;

export function frameBytes(payloadLength: number): number {
  return RECORD_HEADER_BYTES + payloadLength;
}

/** Writes one frame for `payload` at `offset` of `out`; returns the offset after it. */
export function encodeRecord(out: Buffer, offset: number, lsn: number, batchIndex: number, payload: Buffer): number {
  if (!Number.isSafeInteger(lsn) || lsn < 1) throw new Error(`wal: invalid lsn ${lsn}`);
  if (payload.length > MAX_RECORD_BYTES) throw new Error(`wal: record of ${payload.length} bytes exceeds ${MAX_RECORD_BYTES}`);
  out.writeUInt32LE(payload.length, offset);
  out.writeUInt32LE(lsn % TWO_32, offset + 8);
  out.writeUInt32LE(Math.floor(lsn / TWO_32), offset + 12);
  out.writeUInt32LE(batchIndex, offset + 16);
  payload.copy(out, offset + RECORD_HEADER_BYTES);
  const end = offset + RECORD_HEADER_BYTES + payload.length;
  out.writeUInt32LE(crc32(out.subarray(offset + 8, end)), offset + 4);
  return end;
}

export interface DecodedRecord {
  lsn: number;
  batchIndex: number;
  data: Buffer;
  /** Offset just past this frame. */
  end: number;
}

/**
 * Decodes the frame at `offset` if it is complete and its checksum verifies; otherwise null.
 * `data` is a view into `buf`, not a copy.
 */
export function decodeRecord(buf: Buffer, offset: number): DecodedRecord | null {
  if (offset + RECORD_HEADER_BYTES > buf.length) return null;
  const length = buf.readUInt32LE(offset);
  if (length > MAX_RECORD_BYTES) return null;
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > buf.length) return null;
  const hi = buf.readUInt32LE(offset + 12);
  if (hi >= 1 << 21) return null;
  if (crc32(buf.subarray(offset + 8, end)) !== buf.readUInt32LE(offset + 4)) return null;
  const lsn = hi * TWO_32 + buf.readUInt32LE(offset + 8);
  return { lsn, batchIndex: buf.readUInt32LE(offset + 16), data: buf.subarray(offset + RECORD_HEADER_BYTES, end), end };
}
