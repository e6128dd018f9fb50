// A segmented write-ahead log with group commit.
//
// Segments are files named by the LSN of their first record (`00000000000000000001.wal`).
// append() assigns the LSN at once, in call order; the record is acknowledged only after the
// write carrying it is durable (with `sync` the segment is opened O_DSYNC, so that write is one
// write + fdatasync in a single call). While one write is in flight, every append that
// arrives queues up, and the next write carries all of them: under load, many records share
// one fsync. Only one write is in flight at a time, which recovery relies on (scan.ts).
//
// When the log is idle (one small record to write, its appender knows of no other request in
// progress, and the time since the previous write completed exceeds that write's duration, so
// nothing has been arriving back to back) the record is written on the calling thread instead
// of the thread pool: it blocks the event loop for one fsync, during which there was nothing to
// overlap with, and saves the two thread hand-offs (and, on a busy machine, the scheduling
// delays) of a pool operation. Under load writes go to the pool, so request handling overlaps
// the fsync. Either way the write is the only one in flight and is acknowledged once durable.
//
// With `sync`, the active segment is zero-filled ahead of its records (ZERO_AHEAD_BYTES at a
// time, up to segmentBytes, when the log has nothing queued): a record then overwrites blocks
// that already belong to the file instead of growing it, so its O_DSYNC write makes only data
// durable, not the file size and extents as well (a filesystem journal commit): about half the
// latency of an appending write on ext4. Recovery reads a zero tail as the end of the records
// (scan.ts); a crash during a fill leaves only zeros (or holes, which read as zeros) past them.
import { open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { closeFd, fsyncDir, mkdirDurable, openSegment, writeFullyFd, writeFullySync } from './fsutil.js';
import { encodeRecord, frameBytes } from './record.js';
import { scanSegment } from './scan.js';
import { WalCorruptionError, type WalOptions, type WalRecord, type WalRepair, type WalStats } from './types.js';

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Writes larger than this always go to the thread pool. */
const INLINE_MAX_BYTES = 64 * 1024;
/** How far ahead of the records the active segment is zero-filled, and when to fill again. */
const ZERO_AHEAD_BYTES = 256 * 1024;
const ZERO_LOW_WATER_BYTES = 64 * 1024;
let zeros: Buffer | null = null;
const SEGMENT_NAME = /^(\d{20})\.wal$/;

interface Segment {
  firstLsn: number;
  path: string;
}

interface Pending {
  lsn: number;
  data: Buffer;
  /** The appender knows nothing else is waiting on this log (see AppendOptions.idle). */
  idle: boolean;
}

export interface AppendOptions {
  /**
   * The appender knows that nothing else is waiting on this log: no other request is in
   * progress (a sequential client). Such a record, if it is the only one queued and the log
   * has not been busy, is written on the calling thread (see the header).
   */
  idle?: boolean;
}

interface Waiter {
  /** Resolved once every record up to this LSN is durable. */
  lastLsn: number;
  resolve: (lsn: number) => void;
  reject: (err: Error) => void;
}

export interface WalOpenResult {
  wal: Wal;
  /** Every stored record, in LSN order (views into the segment buffers read at open). */
  records: WalRecord[];
  repaired: WalRepair | null;
}

function segmentName(firstLsn: number): string {
  return `${String(firstLsn).padStart(20, '0')}.wal`;
}

export class Wal {
  private readonly queue: Pending[] = [];
  private readonly waiters: Waiter[] = [];
  private flushing: Promise<void> | null = null;
  private flushScheduled = false;
  private failure: Error | null = null;
  private closed = false;
  private readonly counters: WalStats = { records: 0, writes: 0, fsyncs: 0, bytes: 0 };
  /** performance.now() when the last write completed, and how long it took (ms). */
  private lastWriteEnd = 0;
  private lastWriteMs = 0;
  /** The active segment's size: bytes from activeBytes up to here are zeros. */
  private zeroedTo: number;

  private constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    private readonly sync: boolean,
    private readonly segments: Segment[],
    /** The active segment, opened O_DSYNC when `sync` (see openSegment). */
    private fd: number,
    /** Bytes in the active (last) segment. */
    private activeBytes: number,
    private next: number,
    fileBytes: number,
  ) {
    this.zeroedTo = Math.max(fileBytes, activeBytes);
  }

  static async open(options: WalOptions): Promise<WalOpenResult> {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    const sync = options.sync ?? true;
    if (!(segmentBytes > 0)) throw new Error(`wal: segmentBytes must be positive, got ${segmentBytes}`);
    await mkdirDurable(options.dir, sync);

    const segments: Segment[] = (await readdir(options.dir))
      .map((name) => SEGMENT_NAME.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ firstLsn: Number(m[1]), path: join(options.dir, m[0]) }))
      .sort((a, b) => a.firstLsn - b.firstLsn);
    if (segments.length === 0) {
      const path = join(options.dir, segmentName(1));
      await (await open(path, 'wx')).close();
      if (sync) await fsyncDir(options.dir);
      segments.push({ firstLsn: 1, path });
    }

    const records: WalRecord[] = [];
    let repaired: WalRepair | null = null;
    let activeBytes = 0;
    let fileBytes = 0;
    let expected = segments[0].firstLsn;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      const isLast = i === segments.length - 1;
      if (seg.firstLsn !== expected) {
        throw new WalCorruptionError(`wal: ${seg.path} starts at LSN ${seg.firstLsn}, expected ${expected}: a segment is missing`);
      }
      const buf = await readFile(seg.path);
      const scan = scanSegment(buf, seg.firstLsn);
      if (scan.damage !== null) {
        const where = `${seg.path} at offset ${scan.damage.offset} (LSN ${scan.damage.lsn})`;
        if (!isLast) {
          throw new WalCorruptionError(`wal: corrupt record in ${where}, a sealed segment: acknowledged records are lost`);
        }
        if (scan.damage.laterWriteLsn !== null) {
          throw new WalCorruptionError(
            `wal: corrupt record in ${where} is followed by LSN ${scan.damage.laterWriteLsn} from a later write: ` +
              'the damaged write had been acknowledged, so records are lost',
          );
        }
        // A torn final write: it was never acknowledged, so cutting it loses nothing promised.
        const fh = await open(seg.path, 'r+');
        try {
          await fh.truncate(scan.validBytes);
          await fh.sync();
        } finally {
          await fh.close();
        }
        repaired = {
          segment: seg.path,
          offset: scan.validBytes,
          truncatedBytes: buf.length - scan.validBytes,
          lsn: scan.damage.lsn,
        };
      }
      for (const r of scan.records) records.push(r);
      expected = seg.firstLsn + scan.records.length;
      if (isLast) {
        activeBytes = scan.validBytes;
        // A repaired segment was cut at its valid bytes; an intact one may end in zeros.
        fileBytes = scan.damage === null ? buf.length : scan.validBytes;
      }
    }

    const fd = await openSegment(segments[segments.length - 1].path, false, sync);
    const wal = new Wal(options.dir, segmentBytes, sync, segments, fd, activeBytes, expected, fileBytes);
    return { wal, records, repaired };
  }

  /** The LSN the next append will get. */
  get nextLsn(): number {
    return this.next;
  }

  /** The lowest LSN still stored (records below it were released). */
  get firstLsn(): number {
    return this.segments[0].firstLsn;
  }

  stats(): WalStats {
    return { ...this.counters };
  }

  /** Resolves with the record's LSN once it is durable. */
  append(data: Buffer, options?: AppendOptions): Promise<number> {
    return this.appendBatch([data], options);
  }

  /** Appends records with consecutive LSNs; resolves with the last one once all are durable. */
  appendBatch(datas: readonly Buffer[], options?: AppendOptions): Promise<number> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('wal: closed'));
    if (datas.length === 0) return Promise.resolve(this.next - 1);
    const idle = options?.idle === true;
    for (const data of datas) this.queue.push({ lsn: this.next++, data, idle });
    const lastLsn = this.next - 1;
    const done = new Promise<number>((resolve, reject) => this.waiters.push({ lastLsn, resolve, reject }));
    this.schedule();
    return done;
  }

  /**
   * Deletes whole segments whose records are all below `lsn` (covered by a snapshot).
   * The active segment is never deleted. Resolves with the number of segments deleted.
   */
  async releaseBefore(lsn: number): Promise<number> {
    let count = 0;
    while (this.segments.length > 1 && this.segments[1].firstLsn <= lsn) {
      const seg = this.segments.shift() as Segment;
      await unlink(seg.path);
      count++;
    }
    if (count > 0 && this.sync) await fsyncDir(this.dir);
    return count;
  }

  /** Waits for queued appends to become durable, then closes the active segment. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing !== null || (this.queue.length > 0 && this.failure === null)) {
      if (this.flushing === null) this.startFlush();
      await this.flushing;
    }
    await closeFd(this.fd);
  }

  private schedule(): void {
    // Deferred to the end of the current tick so appends issued synchronously share a write.
    if (this.flushing !== null || this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(() => {
      this.flushScheduled = false;
      if (this.flushing === null && this.queue.length > 0) this.startFlush();
    });
  }

  private startFlush(): void {
    // Cleared in a later microtask, never before the assignment (the loop may finish at once).
    this.flushing = this.flushLoop().finally(() => {
      this.flushing = null;
      // An append made after the loop's last look at the queue but before this callback saw
      // `flushing` still set and scheduled nothing: start its flush now, or it would wait
      // for an append that may never come (the Raft host awaits each persist).
      if (this.queue.length > 0 && this.failure === null) this.schedule();
    });
  }

  private async flushLoop(): Promise<void> {
    try {
      for (;;) {
        while (this.queue.length > 0 && this.failure === null) await this.flushOnce();
        // Nothing queued: zero-fill ahead if the records come close to the end of the fill.
        if (this.failure !== null || this.closed || !this.sync) break;
        const fillTo = Math.min(this.segmentBytes, this.zeroedTo + ZERO_AHEAD_BYTES);
        if (this.zeroedTo - this.activeBytes >= ZERO_LOW_WATER_BYTES || fillTo <= this.zeroedTo) break;
        zeros ??= Buffer.alloc(ZERO_AHEAD_BYTES);
        await writeFullyFd(this.fd, zeros.subarray(0, fillTo - this.zeroedTo), this.zeroedTo);
        this.zeroedTo = fillTo;
      }
    } catch (err) {
      // After a failed write or fsync the page cache state is unknown (fsyncgate): refuse all
      // further appends rather than acknowledge records that may not be on disk.
      this.failure = err instanceof Error ? err : new Error(String(err));
      for (const w of this.waiters.splice(0)) w.reject(this.failure);
      this.queue.length = 0;
    }
  }

  private async flushOnce(): Promise<void> {
    // A write never straddles segments; a segment exceeds segmentBytes only for a single
    // record larger than it.
    if (this.activeBytes > 0 && this.activeBytes + frameBytes(this.queue[0].data.length) > this.segmentBytes) {
      await this.rollover(this.queue[0].lsn);
    }
    const room = this.segmentBytes - this.activeBytes;
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length) {
      const size = frameBytes(this.queue[count].data.length);
      if (count > 0 && bytes + size > room) break;
      bytes += size;
      count++;
    }
    const batch = this.queue.splice(0, count);
    const buf = Buffer.allocUnsafe(bytes);
    let offset = 0;
    for (let i = 0; i < batch.length; i++) offset = encodeRecord(buf, offset, batch[i].lsn, i, batch[i].data);
    if (offset !== bytes) throw new Error(`wal: encoded ${offset} bytes, expected ${bytes}`);

    // With sync the segment is O_DSYNC: the write returns once it is durable (an fdatasync).
    const started = performance.now();
    const idle = batch.length === 1 && batch[0].idle && bytes <= INLINE_MAX_BYTES && started - this.lastWriteEnd > this.lastWriteMs;
    if (idle) writeFullySync(this.fd, buf, this.activeBytes);
    else await writeFullyFd(this.fd, buf, this.activeBytes);
    this.lastWriteEnd = performance.now();
    this.lastWriteMs = this.lastWriteEnd - started;
    this.activeBytes += bytes;
    if (this.activeBytes > this.zeroedTo) this.zeroedTo = this.activeBytes;
    this.counters.writes++;
    if (this.sync) this.counters.fsyncs++;
    this.counters.records += batch.length;
    this.counters.bytes += bytes;

    const durable = batch[batch.length - 1].lsn;
    while (this.waiters.length > 0 && this.waiters[0].lastLsn <= durable) {
      const w = this.waiters.shift() as Waiter;
      w.resolve(w.lastLsn);
    }
  }

  private async rollover(firstLsn: number): Promise<void> {
    // The active segment's contents were made durable with each write; closing seals it.
    await closeFd(this.fd);
    const path = join(this.dir, segmentName(firstLsn));
    this.fd = await openSegment(path, true, this.sync);
    if (this.sync) await fsyncDir(this.dir);
    this.segments.push({ firstLsn, path });
    this.activeBytes = 0;
    this.zeroedTo = 0;
  }
}
