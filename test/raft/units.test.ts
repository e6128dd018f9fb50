import { describe, expect, it } from 'vitest';
import {
  Inflights,
  MemoryStorage,
  Progress,
  RaftLog,
  StorageError,
  entrySize,
  type Entry,
} from '../../src/raft/index.js';
import { computeConfChange } from '../../src/raft/core/confchange.js';
import { jointCommitted, jointVote, majorityCommitted, majorityVote } from '../../src/raft/core/quorum.js';
import { confStateToMembership } from '../../src/raft/core/tracker.js';
import { confOf } from './harness.js';

const ent = (index: number, term: number, size = 0): Entry => ({
  index,
  term,
  type: 'normal',
  data: new Uint8Array(size),
});

describe('Inflights', () => {
  it('bounds the window by count and frees by cumulative ack', () => {
    const w = new Inflights(3);
    w.add(5, 10);
    w.add(7, 10);
    w.add(9, 10);
    expect(w.full()).toBe(true);
    expect(() => w.add(11, 1)).toThrow(/full/);
    w.freeLE(7);
    expect(w.count).toBe(1);
    expect(w.totalBytes).toBe(10);
    w.freeFirstOne();
    expect(w.count).toBe(0);
    expect(() => {
      w.add(4, 1);
      w.add(3, 1);
    }).toThrow(/not after/);
  });

  it('bounds the window by bytes when asked', () => {
    const w = new Inflights(100, 25);
    w.add(1, 10);
    w.add(2, 10);
    expect(w.full()).toBe(false);
    w.add(3, 10);
    expect(w.full()).toBe(true);
  });
});

describe('Progress', () => {
  it('probe: one message at a time; a success moves to replicate', () => {
    const p = new Progress(6, 4, 0, false);
    expect(p.isPaused()).toBe(false);
    p.sentEntries(2, 7, 10);
    expect(p.isPaused()).toBe(true);
    expect(p.next).toBe(6); // probing does not advance next optimistically
    expect(p.maybeUpdate(7)).toBe(true);
    p.becomeReplicate();
    expect(p.next).toBe(8);
    p.sentEntries(2, 9, 10);
    expect(p.next).toBe(10);
    expect(p.inflights.count).toBe(1);
  });

  it('rejections: stale ones are ignored, fresh ones back off to the hint but not below match', () => {
    const p = new Progress(11, 4, 0, false);
    p.match = 3;
    expect(p.maybeDecrTo(9, 5)).toBe(false); // not the latest probe (next - 1 = 10)
    expect(p.maybeDecrTo(10, 5)).toBe(true);
    expect(p.next).toBe(6);
    p.next = 5;
    expect(p.maybeDecrTo(4, 0)).toBe(true);
    expect(p.next).toBe(4); // clamped at match + 1
    const r = new Progress(1, 4, 0, false);
    r.match = 8;
    r.becomeReplicate();
    r.sentEntries(3, 11, 1);
    expect(r.maybeDecrTo(7, 0)).toBe(false); // at or below match: old news
    expect(r.maybeDecrTo(10, 0)).toBe(true);
    expect(r.next).toBe(9);
  });

  it('snapshot state pauses; probing resumes after the snapshot index', () => {
    const p = new Progress(3, 4, 0, false);
    p.becomeSnapshot(20);
    expect(p.isPaused()).toBe(true);
    p.becomeProbe();
    expect(p.next).toBe(21);
  });
});

describe('RaftLog over MemoryStorage', () => {
  function log(terms: number[]): RaftLog {
    const s = new MemoryStorage();
    s.append(terms.map((t, i) => ent(i + 1, t)));
    return new RaftLog(s, undefined);
  }

  it('findConflict and findConflictByTerm', () => {
    const l = log([1, 1, 2, 2, 3]);
    expect(l.findConflict([ent(2, 1), ent(3, 2)])).toBe(0);
    expect(l.findConflict([ent(4, 2), ent(5, 4), ent(6, 4)])).toBe(5);
    expect(l.findConflict([ent(5, 3), ent(6, 3)])).toBe(6);
    expect(l.findConflictByTerm(5, 2)).toBe(4);
    expect(l.findConflictByTerm(5, 1)).toBe(2);
    expect(l.findConflictByTerm(5, 0)).toBe(0);
    expect(l.findConflictByTerm(3, 9)).toBe(3);
  });

  it('appends into the unstable tail, truncating conflicts, but never committed entries', () => {
    const l = log([1, 1, 1]);
    l.append([ent(4, 2), ent(5, 2)]);
    expect(l.lastIndex()).toBe(5);
    l.append([ent(5, 3), ent(6, 3)]);
    expect([l.term(4), l.term(5), l.term(6)]).toEqual([2, 3, 3]);
    l.append([ent(3, 4)]); // replaces part of storage
    expect(l.lastIndex()).toBe(3);
    expect(l.term(3)).toBe(4);
    l.commitTo(3);
    expect(() => l.append([ent(2, 5)])).toThrow(/committed/);
    expect(() => l.commitTo(9)).toThrow(/beyond last/);
  });

  it('slices across storage and unstable with a byte limit', () => {
    const l = log([1, 1, 1]);
    l.append([ent(4, 1, 10), ent(5, 1, 10)]);
    expect(l.slice(2, 6).map((e) => e.index)).toEqual([2, 3, 4, 5]);
    expect(l.slice(2, 6, 2 * entrySize(ent(0, 0))).map((e) => e.index)).toEqual([2, 3]);
    expect(l.slice(4, 6, 0).map((e) => e.index)).toEqual([4]); // at least one
  });

  it('reports compaction through StorageError', () => {
    const s = new MemoryStorage();
    s.append([1, 2, 3, 4, 5].map((i) => ent(i, 1)));
    s.createSnapshot(3, confOf([1]), new Uint8Array([1]));
    s.compact(3);
    expect(s.firstIndex()).toBe(4);
    expect(s.term(3)).toBe(1);
    expect(() => s.term(2)).toThrow(StorageError);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e instanceof StorageError ? e.code : 'other';
      }
      return 'none';
    };
    expect(code(() => s.entries(3, 5))).toBe('compacted');
    expect(code(() => s.entries(4, 9))).toBe('unavailable');
    const l = new RaftLog(s, undefined);
    expect(() => l.slice(2, 4)).toThrow(StorageError);
    expect(l.termOrZero(2)).toBe(0);
    s.append([ent(5, 2), ent(6, 2)]);
    expect(s.lastIndex()).toBe(6);
    expect(s.term(5)).toBe(2);
  });
});

describe('quorum arithmetic', () => {
  it('majority commit index and votes', () => {
    const ids = new Set([1, 2, 3, 4, 5]);
    const match: Record<number, number> = { 1: 10, 2: 8, 3: 8, 4: 3, 5: 1 };
    expect(majorityCommitted(ids, (id) => match[id]!)).toBe(8);
    expect(majorityVote(ids, new Map([[1, true], [2, true]]))).toBe('pending');
    expect(majorityVote(ids, new Map([[1, true], [2, true], [3, true]]))).toBe('won');
    expect(majorityVote(ids, new Map([[1, false], [2, false], [3, false]]))).toBe('lost');
    expect(majorityCommitted(new Set(), () => 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('joint configurations need both majorities', () => {
    const voters = [new Set([1, 2, 3]), new Set([3, 4, 5])] as const;
    const match: Record<number, number> = { 1: 9, 2: 9, 3: 2, 4: 7, 5: 7 };
    expect(jointCommitted(voters, (id) => match[id]!)).toBe(7);
    expect(jointVote(voters, new Map([[1, true], [2, true]]))).toBe('pending');
    expect(jointVote(voters, new Map([[1, true], [2, true], [4, true], [5, true]]))).toBe('won');
    expect(jointVote(voters, new Map([[4, false], [5, false], [1, true], [2, true]]))).toBe('lost');
  });
});

describe('conf change rules', () => {
  const mk = () => new Progress(1, 4, 0, false);
  const start = () => {
    const config = confStateToMembership(confOf([1, 2, 3], [4]));
    const progress = new Map([1, 2, 3, 4].map((id) => [id, mk()] as const));
    return { config, progress };
  };

  it('simple changes touch at most one voter', () => {
    const { config, progress } = start();
    const r = computeConfChange(config, progress, { transition: 'auto', changes: [{ type: 'addVoter', nodeId: 4 }] }, mk);
    expect([...r.config.voters[0]].sort()).toEqual([1, 2, 3, 4]);
    expect(r.config.learners.size).toBe(0);
    expect(config.voters[0].size).toBe(3); // input untouched
    expect(() =>
      computeConfChange(config, progress, { transition: 'auto', changes: [{ type: 'removeNode', nodeId: 9 }] }, mk),
    ).not.toThrow();
  });

  it('demoting a voter inside a joint config goes through learnersNext', () => {
    const { config, progress } = start();
    const j = computeConfChange(
      config,
      progress,
      { transition: 'jointExplicit', changes: [{ type: 'addLearner', nodeId: 3 }] },
      mk,
    );
    expect([...j.config.learnersNext]).toEqual([3]);
    expect(j.config.voters[1].has(3)).toBe(true);
    expect(() =>
      computeConfChange(j.config, j.progress, { transition: 'auto', changes: [{ type: 'addVoter', nodeId: 5 }] }, mk),
    ).toThrow(/joint config must be left/);
    const left = computeConfChange(j.config, j.progress, { transition: 'auto', changes: [] }, mk);
    expect([...left.config.learners].sort()).toEqual([3, 4]);
    expect(left.config.voters[1].size).toBe(0);
  });

  it('refuses to remove every voter', () => {
    const config = confStateToMembership(confOf([1]));
    const progress = new Map([[1, mk()]]);
    expect(() =>
      computeConfChange(config, progress, { transition: 'auto', changes: [{ type: 'removeNode', nodeId: 1 }] }, mk),
    ).toThrow(/removed all voters/);
  });
});
