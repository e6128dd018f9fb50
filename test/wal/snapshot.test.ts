import { afterAll, describe, expect, it } from 'vitest';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotStore } from '../../src/wal/index.js';
import { TempDirs } from './helpers.js';

const temps = new TempDirs();
afterAll(() => temps.removeAll());

const snapFile = (index: number) => `snap-${String(index).padStart(20, '0')}.snap`;

describe('SnapshotStore', () => {
  it('returns null when empty and the newest snapshot after saves', async () => {
    const dir = await temps.make();
    const store = await SnapshotStore.open({ dir });
    expect(await store.loadLatest()).toBeNull();
    await store.save(10, Buffer.from('ten'));
    await store.save(25, Buffer.from('twenty-five'));
    const latest = await store.loadLatest();
    expect(latest).toEqual({ index: 25, data: Buffer.from('twenty-five'), skipped: [] });
  });

  it('keeps only the newest `retain` snapshots', async () => {
    const dir = await temps.make();
    const store = await SnapshotStore.open({ dir, retain: 2 });
    for (const i of [1, 2, 3, 4]) await store.save(i * 100, Buffer.from(`s${i}`));
    expect(await store.list()).toEqual([400, 300]);
    expect((await readdir(dir)).sort()).toEqual([snapFile(300), snapFile(400)]);
  });

  it('skips a corrupt latest snapshot and falls back to the previous one', async () => {
    const dir = await temps.make();
    const store = await SnapshotStore.open({ dir, retain: 3 });
    await store.save(5, Buffer.from('five'));
    await store.save(9, Buffer.from('nine'));
    const path = join(dir, snapFile(9));
    const buf = await readFile(path);
    buf[buf.length - 1] ^= 1;
    await writeFile(path, buf);
    const latest = await store.loadLatest();
    expect(latest?.index).toBe(5);
    expect(latest?.data.toString()).toBe('five');
    expect(latest?.skipped).toEqual([path]);

    await writeFile(path, buf.subarray(0, 20)); // shorter than the header
    expect((await store.loadLatest())?.index).toBe(5);
  });

  it('never exposes a save that crashed before its rename', async () => {
    const dir = await temps.make();
    const store = await SnapshotStore.open({ dir });
    await store.save(7, Buffer.from('seven'));
    // What a crash mid-save leaves: a partial temporary file next to the good snapshot.
    await writeFile(join(dir, snapFile(8) + '.tmp'), Buffer.from('SHSNAP01partial'));
    expect((await store.loadLatest())?.index).toBe(7);
    const reopened = await SnapshotStore.open({ dir });
    expect(await readdir(dir)).toEqual([snapFile(7)]);
    expect((await reopened.loadLatest())?.data.toString()).toBe('seven');
  });

  it('round-trips a large snapshot byte for byte', async () => {
    const dir = await temps.make();
    const store = await SnapshotStore.open({ dir });
    const data = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    await store.save(1, data);
    expect((await store.loadLatest())?.data.equals(data)).toBe(true);
  });
});
