import { afterAll, describe, expect, it } from 'vitest';
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Wal, WalCorruptionError } from '../../src/wal/index.js';
import { payloadFor, TempDirs } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.removeAll());

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}

/** Writes `count` records, each in its own write, and returns the directory. */
async function walWith(count: number, segmentBytes?: number): Promise<string> {
  const dir = await temps.make();
  const { wal } = await Wal.open({ dir, segmentBytes, sync: false });
  for (let lsn = 1; lsn <= count; lsn++) expect(await wal.append(payloadFor(lsn))).toBe(lsn);
  await wal.close();
  return dir;
}

function expectRecords(records: { lsn: number; data: Buffer }[], first: number, last: number): void {
  expect(records.map((r) => r.lsn)).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
  for (const r of records) expect(r.data.equals(payloadFor(r.lsn))).toBe(true);
}

describe('Wal', () => {
  it('round-trips records and continues LSNs after reopening', async () => {
    const dir = await walWith(20);
    const first = await Wal.open({ dir });
    expect(first.repaired).toBeNull();
    expectRecords(first.records, 1, 20);
    expect(first.wal.nextLsn).toBe(21);
    expect(await first.wal.appendBatch([payloadFor(21), payloadFor(22), Buffer.alloc(0)])).toBe(23);
    await first.wal.close();

    const second = await Wal.open({ dir });
    expectRecords(second.records.slice(0, 22), 1, 22);
    expect(second.records[22]).toEqual({ lsn: 23, data: Buffer.alloc(0) });
    await second.wal.close();
  });

  it('coalesces appends issued during an in-flight fsync into one write and one fsync', async () => {
    const dir = await temps.make();
    const { wal } = await Wal.open({ dir, sync: true });
    const total = 400;
    const acks: Promise<number>[] = [];
    for (let i = 0; i < total; i++) {
      const p = wal.append(payloadFor(i + 1));
      // Acknowledged only once durable: the durable-record count already covers it.
      acks.push(p.then((lsn) => (expect(wal.stats().records).toBeGreaterThanOrEqual(lsn), lsn)));
      // Spread the appends over many event-loop turns so they arrive while a write is in flight.
      if (i % 8 === 7) await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(acks)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const stats = wal.stats();
    expect(stats.records).toBe(total);
    expect(stats.fsyncs).toBe(stats.writes);
    expect(stats.fsyncs).toBeGreaterThan(1);
    expect(stats.fsyncs).toBeLessThan(total / 4);
    await wal.close();
    expectRecords((await Wal.open({ dir, sync: false })).records, 1, total);
  });

  it('writes an idle append on the calling thread and keeps LSN order when idle and queued appends mix', async () => {
    const dir = await temps.make();
    const { wal } = await Wal.open({ dir, sync: true, segmentBytes: 2048 });
    const segment = join(dir, (await segmentFiles(dir))[0]);
    // A fresh log is idle: the record is on disk once the flush scheduled for this tick ran,
    // before any thread-pool callback could have completed.
    const first = wal.append(payloadFor(1), { idle: true });
    await new Promise<void>((resolve) => process.nextTick(resolve));
    expect((await stat(segment)).size).toBeGreaterThan(payloadFor(1).length);
    expect(await first).toBe(1);

    let lsn = 1;
    for (let round = 0; round < 30; round++) {
      // A sequential append, then a burst mixing idle and ordinary appends (group commit).
      expect(await wal.append(payloadFor(++lsn), { idle: true })).toBe(lsn);
      const burst: Promise<number>[] = [];
      for (let i = 0; i < 1 + (round % 5); i++) burst.push(wal.append(payloadFor(++lsn), { idle: i % 2 === 0 }));
      expect(await Promise.all(burst)).toEqual(burst.map((_, i) => lsn - burst.length + 1 + i));
    }
    await wal.close();

    const reopened = await Wal.open({ dir, segmentBytes: 2048 });
    expect(reopened.repaired).toBeNull();
    expectRecords(reopened.records, 1, lsn);
    expect((await segmentFiles(dir)).length).toBeGreaterThan(1); // rolled over while writing inline too
    await reopened.wal.close();
  });

  it('repairs a tail torn at every byte offset of the last record', async () => {
    const dir = await walWith(6);
    const [seg] = await segmentFiles(dir);
    const full = await readFile(join(dir, seg));
    const lastFrame = 20 + payloadFor(6).length;
    const lastStart = full.length - lastFrame;
    for (let cut = lastStart; cut < full.length; cut++) {
      await writeFile(join(dir, seg), full.subarray(0, cut));
      const { wal, records, repaired } = await Wal.open({ dir, sync: false });
      expectRecords(records, 1, 5);
      if (cut === lastStart) expect(repaired).toBeNull();
      else expect(repaired).toMatchObject({ offset: lastStart, truncatedBytes: cut - lastStart, lsn: 6 });
      expect((await stat(join(dir, seg))).size).toBe(lastStart);
      expect(await wal.append(payloadFor(6))).toBe(6);
      await wal.close();
    }
    expectRecords((await Wal.open({ dir, sync: false })).records, 1, 6);
  });

  it('repairs a corrupted last record by cutting it', async () => {
    const dir = await walWith(4);
    const [seg] = await segmentFiles(dir);
    const buf = await readFile(join(dir, seg));
    buf[buf.length - 1] ^= 0x40;
    await writeFile(join(dir, seg), buf);
    const { wal, records, repaired } = await Wal.open({ dir, sync: false });
    expectRecords(records, 1, 3);
    expect(repaired?.lsn).toBe(4);
    await wal.close();
  });

  it('refuses a corrupted middle record of the last segment when later writes follow it', async () => {
    const dir = await walWith(10);
    const [seg] = await segmentFiles(dir);
    const buf = await readFile(join(dir, seg));
    let offset = 0;
    for (let lsn = 1; lsn < 5; lsn++) offset += 20 + payloadFor(lsn).length;
    buf[offset + 20] ^= 0xff; // first payload byte of LSN 5
    await writeFile(join(dir, seg), buf);
    await expect(Wal.open({ dir })).rejects.toThrow(WalCorruptionError);
    await expect(Wal.open({ dir })).rejects.toThrow(/LSN 5.*later write/);
  });

  it('cuts a torn final write even when later frames of that same write survived', async () => {
    // Pages of one write can reach the disk out of order; none of that write was acknowledged.
    const dir = await temps.make();
    const { wal } = await Wal.open({ dir, sync: false });
    await wal.appendBatch([payloadFor(1), payloadFor(2)]);
    await wal.appendBatch([3, 4, 5, 6].map(payloadFor));
    await wal.close();
    const [seg] = await segmentFiles(dir);
    const buf = await readFile(join(dir, seg));
    const offset4 = [1, 2, 3].reduce((o, lsn) => o + 20 + payloadFor(lsn).length, 0);
    buf.fill(0, offset4, offset4 + 20 + payloadFor(4).length);
    await writeFile(join(dir, seg), buf);
    const reopened = await Wal.open({ dir, sync: false });
    expectRecords(reopened.records, 1, 3);
    expect(reopened.repaired).toMatchObject({ offset: offset4, lsn: 4, truncatedBytes: buf.length - offset4 });
    await reopened.wal.close();
  });

  it('rolls segments over at segmentBytes and releases whole segments below an LSN', async () => {
    const dir = await walWith(60, 300);
    const names = await segmentFiles(dir);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names.slice(0, -1)) expect((await stat(join(dir, name))).size).toBeLessThanOrEqual(300);

    const { wal, records } = await Wal.open({ dir, segmentBytes: 300 });
    expectRecords(records, 1, 60);
    const firsts = names.map((n) => Number(n.slice(0, 20)));
    const deleted = await wal.releaseBefore(30);
    // Exactly the segments whose successor starts at or below 30 hold only records < 30.
    expect(deleted).toBe(firsts.filter((_, i) => i + 1 < firsts.length && firsts[i + 1] <= 30).length);
    expect(wal.firstLsn).toBeLessThanOrEqual(30);
    expect(wal.firstLsn).toBeGreaterThan(firsts[0]);
    expect(await wal.append(payloadFor(61))).toBe(61);
    await wal.close();

    const after = await Wal.open({ dir, sync: false });
    expectRecords(after.records, after.wal.firstLsn, 61);
    expect(after.records[0].lsn).toBeLessThanOrEqual(30);
    // The active segment is never released, even past every LSN.
    await after.wal.releaseBefore(1000);
    expect(await segmentFiles(dir)).toHaveLength(1);
    await after.wal.close();
  });

  it('treats damage in a sealed segment and a missing segment as hard errors', async () => {
    const dir = await walWith(30, 200);
    const names = await segmentFiles(dir);
    const sealed = join(dir, names[1]);
    const buf = await readFile(sealed);
    await truncate(sealed, buf.length - 3);
    await expect(Wal.open({ dir })).rejects.toThrow(/sealed segment/);
    await writeFile(sealed, buf);
    expect((await Wal.open({ dir, sync: false })).records).toHaveLength(30);

    const { rm } = await import('node:fs/promises');
    await rm(join(dir, names[2]));
    await expect(Wal.open({ dir })).rejects.toThrow(/segment is missing/);
  });

  it('rejects appends after close', async () => {
    const dir = await temps.make();
    const { wal } = await Wal.open({ dir, sync: false });
    const pending = wal.append(Buffer.from('x'));
    await wal.close();
    expect(await pending).toBe(1);
    await expect(wal.append(Buffer.from('y'))).rejects.toThrow(/closed/);
  });
});
