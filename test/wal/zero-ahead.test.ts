// With sync, the active segment is zero-filled ahead of its records (so a record's O_DSYNC write
// does not grow the file); a zero tail reads back as the end of the records.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Wal } from '../../src/wal/index.js';
import { payloadFor, TempDirs } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.removeAll());

const segmentFiles = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
const frames = (from: number, to: number): number => {
  let bytes = 0;
  for (let lsn = from; lsn <= to; lsn++) bytes += 20 + payloadFor(lsn).length;
  return bytes;
};

describe('Wal zero-fill ahead', () => {
  it('fills the active segment ahead of its records, and reopens at the last record', async () => {
    const dir = await temps.make();
    const { wal } = await Wal.open({ dir, sync: true });
    // Appends from separate macrotasks (as requests arrive): the log is idle in between.
    for (let lsn = 1; lsn <= 50; lsn++) {
      expect(await wal.append(payloadFor(lsn))).toBe(lsn);
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    await wal.close();
    const [seg] = await segmentFiles(dir);
    const size = (await stat(join(dir, seg!))).size;
    expect(size).toBeGreaterThan(frames(1, 50));
    const buf = await readFile(join(dir, seg!));
    expect(buf.subarray(frames(1, 50)).every((b) => b === 0)).toBe(true);

    // Reopened: the zero tail is the end, nothing is repaired, and new records overwrite zeros.
    const second = await Wal.open({ dir, sync: true });
    expect(second.repaired).toBeNull();
    expect(second.records.map((r) => r.lsn)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    for (let lsn = 51; lsn <= 80; lsn++) expect(await second.wal.append(payloadFor(lsn))).toBe(lsn);
    await second.wal.close();
    expect((await stat(join(dir, seg!))).size).toBe(size);

    const third = await Wal.open({ dir, sync: false });
    expect(third.repaired).toBeNull();
    expect(third.records.map((r) => r.lsn)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    for (const r of third.records) expect(r.data.equals(payloadFor(r.lsn))).toBe(true);
    await third.wal.close();
  });

  it('never fills past segmentBytes, and sealed segments with a zero tail read back whole', async () => {
    const dir = await temps.make();
    const { wal } = await Wal.open({ dir, sync: true, segmentBytes: 1000 });
    for (let lsn = 1; lsn <= 40; lsn++) expect(await wal.append(payloadFor(lsn))).toBe(lsn);
    await wal.close();
    const names = await segmentFiles(dir);
    expect(names.length).toBeGreaterThan(2);
    for (const n of names) expect((await stat(join(dir, n))).size).toBeLessThanOrEqual(1000);
    const { wal: reopened, records, repaired } = await Wal.open({ dir, sync: true, segmentBytes: 1000 });
    expect(repaired).toBeNull();
    expect(records.map((r) => r.lsn)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    await reopened.close();
  });

  it('still repairs a torn write that is followed by the zero tail', async () => {
    const dir = await temps.make();
    const { wal } = await Wal.open({ dir, sync: true });
    for (let lsn = 1; lsn <= 5; lsn++) await wal.append(payloadFor(lsn));
    await wal.close();
    const [seg] = await segmentFiles(dir);
    const buf = await readFile(join(dir, seg!));
    buf[frames(1, 4) + 21] ^= 0x5a; // inside LSN 5's payload
    await writeFile(join(dir, seg!), buf);
    const { wal: reopened, records, repaired } = await Wal.open({ dir, sync: true });
    expect(records.map((r) => r.lsn)).toEqual([1, 2, 3, 4]);
    expect(repaired).toMatchObject({ offset: frames(1, 4), lsn: 5 });
    expect(await reopened.append(payloadFor(5))).toBe(5);
    await reopened.close();
  });
});
