import { afterAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import type { ConfState, Entry, Snapshot } from '../../../src/raft/index.js';
import { DiskStorage, RecoveryError } from '../../../src/raft/storage/index.js';
import { replay } from '../../../src/raft/storage/replay.js';
import { decodeLogRecord, encodeLogRecord } from '../../../src/raft/storage/records.js';
import { TempDirs } from '../../wal/helpers.js';

const temps = new TempDirs();
afterAll(() => temps.removeAll());

const conf: ConfState = { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ term, index: i, type: 'normal', data: Buffer.from(`e${i}t${term}`) });
  return out;
}

function snap(index: number, term: number, data = `state@${index}`): Snapshot {
  return { meta: { index, term, conf }, data: Buffer.from(data) };
}

function summary(entries: Entry[]): string[] {
  return entries.map((e) => `${e.index}:${e.term}:${Buffer.from(e.data).toString()}`);
}

async function reopen(dir: string, segmentBytes?: number) {
  const { storage, state } = await DiskStorage.open({ dir, sync: false, segmentBytes });
  await storage.close();
  return state;
}

describe('DiskStorage', () => {
  it('starts empty and round-trips entries and the last hard state', async () => {
    const dir = await temps.make();
    const { storage, state } = await DiskStorage.open({ dir });
    expect(state).toMatchObject({ snapshot: null, entries: [], hardState: { term: 0, vote: 0, commit: 0 }, repaired: null });
    await storage.persist({ entries: ents(1, 3, 1), hardState: { term: 1, vote: 2, commit: 0 } });
    await storage.persist({ entries: ents(4, 5, 1), hardState: { term: 1, vote: 2, commit: 4 } });
    await storage.persist({ entries: [], hardState: { term: 2, vote: 0, commit: 5 } });
    await storage.close();
    const after = await reopen(dir);
    expect(summary(after.entries)).toEqual(summary(ents(1, 5, 1)));
    expect(after.hardState).toEqual({ term: 2, vote: 0, commit: 5 });
  });

  it('replays an overwritten suffix as the new, shorter log', async () => {
    const dir = await temps.make();
    const { storage } = await DiskStorage.open({ dir, sync: false });
    await storage.persist({ entries: ents(1, 10, 1), hardState: { term: 1, vote: 1, commit: 3 } });
    await storage.persist({ entries: ents(6, 7, 2), hardState: { term: 2, vote: 3, commit: 3 } });
    await storage.close();
    const after = await reopen(dir);
    expect(summary(after.entries)).toEqual(summary([...ents(1, 5, 1), ...ents(6, 7, 2)]));
  });

  it('a received snapshot replaces a conflicting log; entries after it survive a restart', async () => {
    const dir = await temps.make();
    const { storage } = await DiskStorage.open({ dir, sync: false });
    await storage.persist({ snapshot: snap(1, 1), entries: [], hardState: { term: 1, vote: 0, commit: 1 } });
    await storage.persist({ entries: ents(2, 30, 1) });
    // The leader's snapshot at 20 (term 3) does not match our entry 20 (term 1).
    await storage.persist({ snapshot: snap(20, 3), entries: [], hardState: { term: 3, vote: 0, commit: 20 } });
    await storage.persist({ entries: ents(21, 22, 3), hardState: { term: 3, vote: 0, commit: 22 } });
    await storage.close();
    const after = await reopen(dir);
    expect(after.snapshot?.meta).toEqual({ index: 20, term: 3, conf });
    expect(Buffer.from(after.snapshot?.data ?? []).toString()).toBe('state@20');
    expect(summary(after.entries)).toEqual(summary(ents(21, 22, 3)));
    expect(after.hardState).toEqual({ term: 3, vote: 0, commit: 22 });
  });

  it('a local snapshot keeps later entries and releases the WAL segments it covers', async () => {
    const dir = await temps.make();
    const segmentBytes = 512;
    const { storage } = await DiskStorage.open({ dir, sync: false, segmentBytes });
    await storage.persist({ snapshot: snap(1, 1), entries: [], hardState: { term: 1, vote: 0, commit: 1 } });
    for (let i = 2; i <= 200; i += 3) await storage.persist({ entries: ents(i, i + 2, 1), hardState: { term: 1, vote: 0, commit: i - 1 } });
    const segmentsBefore = (await readdir(dir)).filter((n) => n.endsWith('.wal')).length;
    expect(segmentsBefore).toBeGreaterThan(4);
    const released = await storage.saveSnapshot(snap(150, 1));
    expect(released).toBeGreaterThan(segmentsBefore / 2);
    await storage.persist({ entries: ents(203, 205, 1), hardState: { term: 1, vote: 0, commit: 204 } });
    await storage.close();

    const after = await reopen(dir, segmentBytes);
    expect(after.snapshot?.meta.index).toBe(150);
    expect(summary(after.entries)).toEqual(summary(ents(151, 205, 1)));
    expect(after.hardState).toEqual({ term: 1, vote: 0, commit: 204 });
  });

  it('keeps the log when released segments leave it starting right after the snapshot', async () => {
    const dir = await temps.make();
    const segmentBytes = 64; // every write (one persist) gets a segment of its own
    const { storage } = await DiskStorage.open({ dir, sync: false, segmentBytes });
    await storage.persist({ snapshot: snap(1, 1), entries: [], hardState: { term: 1, vote: 0, commit: 1 } });
    for (let i = 2; i <= 40; i += 2) await storage.persist({ entries: ents(i, i + 1, 1), hardState: { term: 1, vote: 0, commit: i + 1 } });
    // Entry 22 starts a record: releasing up to it leaves a WAL whose log starts at 22.
    expect(await storage.saveSnapshot(snap(21, 1))).toBeGreaterThan(0);
    await storage.close();
    const after = await reopen(dir, segmentBytes);
    expect(after.snapshot?.meta.index).toBe(21);
    expect(summary(after.entries)).toEqual(summary(ents(22, 41, 1)));
    expect(after.hardState.commit).toBe(41);
  });

  it('refuses to overlap persists (the host must serialise them)', async () => {
    const dir = await temps.make();
    const { storage } = await DiskStorage.open({ dir, sync: false });
    const first = storage.persist({ entries: ents(1, 1, 1) });
    await expect(storage.persist({ entries: ents(2, 2, 1) })).rejects.toThrow(/overlapping/);
    await first;
    await storage.close();
  });
});

describe('replay', () => {
  const rec = (lsn: number, data: Buffer) => ({ lsn, data });
  const entriesRec = (entries: Entry[]) => encodeLogRecord({ entries });
  const markerRec = (index: number, term: number) => encodeLogRecord({ marker: { index, term }, entries: [] });

  it('uses a snapshot saved just before a crash cut its marker', () => {
    const records = [rec(1, entriesRec(ents(1, 8, 1))), rec(2, encodeLogRecord({ entries: [], hardState: { term: 1, vote: 0, commit: 2 } }))];
    // Matching (local) snapshot: later entries stay.
    const kept = replay(records, true, snap(5, 1));
    expect(kept.entries.map((e) => e.index)).toEqual([6, 7, 8]);
    // Conflicting (received) snapshot: the log is replaced.
    const replaced = replay(records, true, snap(5, 4));
    expect(replaced.entries).toEqual([]);
    expect(replaced.hardState.commit).toBe(5);
  });

  it('fails clearly when the snapshot a marker names is missing', () => {
    const records = [rec(1, entriesRec(ents(1, 8, 1))), rec(2, markerRec(6, 1))];
    expect(() => replay(records, true, snap(3, 1))).toThrow(RecoveryError);
    expect(() => replay(records, true, null)).toThrow(/newest readable snapshot is none/);
  });

  it('fails when released segments left a log no snapshot covers', () => {
    const records = [rec(40, entriesRec(ents(30, 35, 2)))];
    expect(() => replay(records, false, null)).toThrow(/no snapshot covers it/);
    expect(() => replay(records, false, snap(20, 2))).toThrow(/covers only 20/);
    expect(replay(records, false, snap(31, 2)).entries.map((e) => e.index)).toEqual([32, 33, 34, 35]);
  });

  it('trusts the snapshot term at a log start it cannot see, and only there', () => {
    const records = [rec(40, entriesRec(ents(31, 35, 2))), rec(41, markerRec(30, 2))];
    expect(replay(records, false, snap(30, 2)).entries.map((e) => e.index)).toEqual([31, 32, 33, 34, 35]);
    // A marker inside the visible log is still checked: a term mismatch replaces the log.
    const inside = [rec(40, entriesRec(ents(31, 35, 2))), rec(41, markerRec(32, 5))];
    expect(replay(inside, false, snap(32, 5)).entries).toEqual([]);
  });

  it('one record round-trips a whole Ready and rejects the old separate kinds', () => {
    const ready = { marker: { index: 7, term: 2 }, entries: ents(8, 9, 3), hardState: { term: 3, vote: 2, commit: 8 } };
    const back = decodeLogRecord(encodeLogRecord(ready));
    expect({ ...back, entries: summary(back.entries) }).toEqual({ ...ready, entries: summary(ready.entries) });
    expect(decodeLogRecord(encodeLogRecord({ entries: [] }))).toEqual({ entries: [] });
    const oldEntriesKind = Buffer.from([1, 0]);
    expect(() => decodeLogRecord(oldEntriesKind)).toThrow(/unknown WAL record kind 1/);
    const unknownFlag = encodeLogRecord({ entries: [] });
    unknownFlag[1] = 4;
    expect(() => decodeLogRecord(unknownFlag)).toThrow(/flags/);
  });

  it('fails on a gap between entry records', () => {
    const records = [rec(1, entriesRec(ents(1, 3, 1))), rec(2, entriesRec(ents(5, 6, 1)))];
    expect(() => replay(records, true, null)).toThrow(/jump from 3 to 5/);
  });
});
