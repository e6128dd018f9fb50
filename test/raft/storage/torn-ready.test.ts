// A crash while a Ready is being written must leave that Ready wholly on disk or wholly absent:
// the core refuses to start on entries from a term later than its stored hard state.
import { afterAll, describe, expect, it } from 'vitest';
import { cp, readdir, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryStorage, RaftNode, bootstrapSnapshot, type ConfState, type Entry, type Snapshot } from '../../../src/raft/index.js';
import { DiskStorage, type PersistUpdate, type RecoveredState } from '../../../src/raft/storage/index.js';
import { TempDirs } from '../../wal/helpers.js';

const temps = new TempDirs();
afterAll(() => temps.removeAll());

const conf: ConfState = { voters: [1, 2, 3], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push({ term, index: i, type: 'normal', data: Buffer.from(`e${i}t${term}`) });
  return out;
}

/** What a restart sees, comparable with toEqual. */
function view(state: RecoveredState) {
  return {
    snapshot: state.snapshot === null ? null : { ...state.snapshot.meta, data: Buffer.from(state.snapshot.data).toString() },
    entries: state.entries.map((e) => `${e.index}:${e.term}:${Buffer.from(e.data).toString()}`),
    hardState: state.hardState,
  };
}

/** Builds the core the way RaftHost.start does; its constructor asserts the log/term invariant. */
function startCore(state: RecoveredState): RaftNode {
  const memory = new MemoryStorage();
  if (state.snapshot !== null) memory.applySnapshot(state.snapshot);
  memory.append(state.entries);
  memory.setHardState(state.hardState);
  return new RaftNode({ id: 1, storage: memory, electionTick: 10, heartbeatTick: 1, random: () => 0.5, applied: memory.snapshot().meta.index });
}

async function lastSegment(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
  return join(dir, names[names.length - 1]);
}

async function recover(dir: string): Promise<RecoveredState> {
  const { storage, state } = await DiskStorage.open({ dir, sync: false });
  await storage.close();
  return state;
}

/**
 * Persists `before`, then `ready`, and recovers from a copy of the directory with the last
 * segment cut at every byte offset inside the bytes `ready` appended, as a torn write leaves it.
 */
async function tearAtEveryOffset(before: PersistUpdate[], ready: PersistUpdate) {
  const dir = await temps.make('shoal-torn-');
  const { storage } = await DiskStorage.open({ dir, sync: false });
  for (const u of before) await storage.persist(u);
  const segment = await lastSegment(dir);
  const start = (await stat(segment)).size;
  await storage.persist(ready);
  await storage.close();
  expect(await lastSegment(dir)).toBe(segment);
  const end = (await stat(segment)).size;
  expect(end).toBeGreaterThan(start);

  const work = await temps.make('shoal-torn-work-');
  const copyCut = async (cut: number): Promise<RecoveredState> => {
    await rm(work, { recursive: true, force: true });
    await cp(dir, work, { recursive: true });
    await truncate(join(work, segment.slice(dir.length + 1)), cut);
    return recover(work);
  };
  const old = await copyCut(start);
  const complete = await copyCut(end);
  const outcomes: { cut: number; state: RecoveredState; term: number; lastIndex: number }[] = [];
  for (let cut = start + 1; cut < end; cut++) {
    const state = await copyCut(cut);
    const node = startCore(state);
    outcomes.push({ cut, state, term: node.term, lastIndex: node.log.lastIndex() });
  }
  return { old, complete, outcomes };
}

const bootstrap: PersistUpdate = {
  snapshot: bootstrapSnapshot(conf),
  entries: [],
  hardState: { term: 1, vote: 0, commit: 1 },
};
const term1: PersistUpdate = { entries: ents(2, 4, 1), hardState: { term: 1, vote: 2, commit: 3 } };

describe('a torn Ready', () => {
  it('entries of a new term and the hard state that raised it survive together or not at all', async () => {
    // A new leader at term 2 overwrites entry 4 and appends 5; the follower's term moves with it.
    const ready: PersistUpdate = { entries: ents(4, 5, 2), hardState: { term: 2, vote: 0, commit: 3 } };
    const { old, complete, outcomes } = await tearAtEveryOffset([bootstrap, term1], ready);

    expect(view(old).entries).toEqual(['2:1:e2t1', '3:1:e3t1', '4:1:e4t1']);
    expect(view(complete)).toMatchObject({ entries: ['2:1:e2t1', '3:1:e3t1', '4:2:e4t2', '5:2:e5t2'], hardState: ready.hardState });
    expect(startCore(complete).term).toBe(2);
    expect(outcomes.length).toBeGreaterThan(20);
    for (const o of outcomes) {
      // Cut inside the Ready's bytes: the WAL repaired a torn write, and nothing of it remains.
      expect(o.state.repaired, `cut at ${o.cut}`).not.toBeNull();
      expect(view(o.state), `cut at ${o.cut}`).toEqual(view(old));
      expect({ term: o.term, lastIndex: o.lastIndex }, `cut at ${o.cut}`).toEqual({ term: 1, lastIndex: 4 });
    }
  });

  it('a torn Ready with a received snapshot of a later term restarts from the snapshot at its term', async () => {
    // A follower still at term 1 is sent a snapshot by a term-3 leader: one Ready holds the
    // snapshot, the entry after it and the raised term.
    const received: Snapshot = { meta: { index: 10, term: 3, conf }, data: Buffer.from('state@10') };
    const ready: PersistUpdate = { snapshot: received, entries: ents(11, 11, 3), hardState: { term: 3, vote: 0, commit: 10 } };
    const { complete, outcomes } = await tearAtEveryOffset([bootstrap, term1], ready);

    expect(view(complete)).toMatchObject({ snapshot: { index: 10, term: 3 }, entries: ['11:3:e11t3'], hardState: ready.hardState });
    expect(outcomes.length).toBeGreaterThan(10);
    for (const o of outcomes) {
      // The image was saved before the record, so it is adopted (its entry, unacknowledged, is
      // not); the term rises to the snapshot's without a vote, so the core can start.
      expect(view(o.state), `cut at ${o.cut}`).toEqual({
        snapshot: { index: 10, term: 3, conf, data: 'state@10' },
        entries: [],
        hardState: { term: 3, vote: 0, commit: 10 },
      });
      expect({ term: o.term, lastIndex: o.lastIndex }, `cut at ${o.cut}`).toEqual({ term: 3, lastIndex: 10 });
    }
  });

  it('a local snapshot record (marker + hard state) torn anywhere keeps the log whole', async () => {
    const dir = await temps.make('shoal-torn-');
    const { storage } = await DiskStorage.open({ dir, sync: false });
    for (const u of [bootstrap, term1, { entries: ents(5, 6, 2), hardState: { term: 2, vote: 3, commit: 5 } }]) await storage.persist(u);
    const segment = await lastSegment(dir);
    const start = (await stat(segment)).size;
    const local: Snapshot = { meta: { index: 5, term: 2, conf }, data: Buffer.from('state@5') };
    await storage.saveSnapshot(local);
    await storage.close();
    const end = (await stat(segment)).size;

    const work = await temps.make('shoal-torn-work-');
    for (let cut = start; cut <= end; cut++) {
      await rm(work, { recursive: true, force: true });
      await cp(dir, work, { recursive: true });
      await truncate(join(work, segment.slice(dir.length + 1)), cut);
      const state = await recover(work);
      // The snapshot file was saved before its record, so every cut restarts from it.
      expect(state.snapshot?.meta.index, `cut at ${cut}`).toBe(5);
      expect(view(state).entries, `cut at ${cut}`).toEqual(['6:2:e6t2']);
      expect(state.hardState, `cut at ${cut}`).toEqual({ term: 2, vote: 3, commit: 5 });
      expect(startCore(state).term).toBe(2);
    }
  });
});
