// The simulator's parts on their own: PRNG, disk crash model, network faults, safety monitor.

import { describe, expect, it } from 'vitest';
import type { Entry } from '../../../src/raft/index.js';
import { SafetyMonitor } from '../../../src/raft/sim/checks.js';
import { Disk } from '../../../src/raft/sim/disk.js';
import { EventQueue } from '../../../src/raft/sim/event-queue.js';
import { Network } from '../../../src/raft/sim/network.js';
import { Prng } from '../../../src/raft/sim/prng.js';

const entry = (index: number, term: number, tag = ''): Entry => ({ index, term, type: 'normal', data: new TextEncoder().encode(tag) });

describe('Prng', () => {
  it('is a pure function of its seed, and forks are independent streams', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(new Set(xs).size).toBe(100);
    const f1 = new Prng(42).fork('net');
    const f2 = new Prng(42).fork('disk');
    expect(f1.next()).not.toBe(f2.next());
    expect(new Prng(42).fork('net').next()).toBe(new Prng(42).fork('net').next());
  });

  it('draws integers in range, roughly uniformly', () => {
    const r = new Prng(7);
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 50_000; i++) counts[r.int(5)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    for (let i = 0; i < 1000; i++) {
      const v = r.range(-2, 3);
      expect(v).toBeGreaterThanOrEqual(-2);
      expect(v).toBeLessThanOrEqual(3);
    }
  });
});

describe('Disk', () => {
  it('keeps everything synced and a prefix of the rest; a torn record ends the log', () => {
    const seen = { keptSome: false, lostSome: false, torn: false };
    for (let seed = 1; seed <= 200; seed++) {
      const d = new Disk();
      d.write({ kind: 'ready', entries: [entry(1, 1), entry(2, 1)], hardState: { term: 1, vote: 0, commit: 0 } });
      d.sync();
      d.write({ kind: 'ready', entries: [entry(3, 2)], hardState: { term: 2, vote: 1, commit: 2 } });
      d.write({ kind: 'ready', entries: [entry(4, 2)] });
      d.crash(new Prng(seed));
      const r = d.recover();
      const last = r.entries[r.entries.length - 1]!.index;
      expect(last).toBeGreaterThanOrEqual(2); // synced writes survive
      if (last > 2) seen.keptSome = true;
      if (last < 4) seen.lostSome = true;
      if (d.stats.tornOnCrash > 0) seen.torn = true;
      // Prefix: entry 4 never survives without entry 3's record (which carries term 2).
      if (last === 4) expect(r.hardState!.term).toBe(2);
      expect(r.entries.map((e) => e.index)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    }
    expect(seen).toEqual({ keptSome: true, lostSome: true, torn: true });
  });

  it('replays overwrites, snapshots and compaction', () => {
    const d = new Disk();
    d.write({ kind: 'ready', entries: [entry(1, 1), entry(2, 1), entry(3, 1)] });
    d.write({ kind: 'ready', entries: [entry(2, 2)] }); // a new leader overwrote from index 2
    expect(d.recover().entries.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    const conf = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    d.write({ kind: 'ready', entries: [entry(3, 2), entry(4, 2)] });
    d.write({ kind: 'snapshotCompact', snapshot: { meta: { index: 3, term: 2, conf }, data: new Uint8Array() } });
    d.sync();
    d.compact();
    const r = d.recover();
    expect(r.snapshot!.meta.index).toBe(3);
    expect(r.entries.map((e) => e.index)).toEqual([4]);
    d.write({ kind: 'ready', snapshot: { meta: { index: 9, term: 3, conf }, data: new Uint8Array() }, entries: [] });
    expect(d.recover().entries).toEqual([]);
  });
});

describe('Network', () => {
  const setup = () => {
    const q = new EventQueue();
    const n = new Network(q, new Prng(1));
    const got: string[] = [];
    const send = (a: number, b: number) => n.send(a, b, () => got.push(`${a}>${b}`));
    return { q, n, got, send };
  };

  it('cuts links one way, partitions, heals, and swallows what is on the wire', () => {
    const { q, n, got, send } = setup();
    n.cut(1, 2);
    send(1, 2);
    send(2, 1);
    q.runUntil(100);
    expect(got).toEqual(['2>1']);
    n.heal();
    n.partition([[1], [2, 3]]);
    send(1, 3);
    send(2, 3);
    q.runUntil(200);
    expect(got).toEqual(['2>1', '2>3']);
    n.heal();
    send(1, 2);
    n.isolate(2, [1, 2, 3]); // cut while the message is in flight
    q.runUntil(300);
    expect(got).toEqual(['2>1', '2>3']);
    n.reconnect(2);
    send(1, 2);
    q.runUntil(400);
    expect(got).toEqual(['2>1', '2>3', '1>2']);
  });

  it('drops, duplicates and reorders at the configured rates', () => {
    const { q, n, got, send } = setup();
    n.faults = { drop: 0, duplicate: 1, slow: 0, minDelay: 1, maxDelay: 50, longDelay: 50 };
    for (let i = 0; i < 50; i++) n.send(1, 2, () => got.push(String(i)));
    q.runUntil(1000);
    expect(got).toHaveLength(100);
    expect(got.slice(0, 50)).not.toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    n.faults = { ...n.faults, duplicate: 0, drop: 1 };
    send(1, 2);
    q.runUntil(2000);
    expect(got).toHaveLength(100);
  });
});

describe('SafetyMonitor', () => {
  it('flags two leaders in one term', () => {
    const m = new SafetyMonitor();
    m.onLeader(1, 5, { snapIndex: 0, terms: [] });
    m.onLeader(1, 5, { snapIndex: 0, terms: [] });
    expect(m.violations).toEqual([]);
    m.onLeader(2, 5, { snapIndex: 0, terms: [] });
    expect(m.violations.map((v) => v.kind)).toEqual(['electionSafety']);
  });

  it('flags different entries applied at one index, and diverging state', () => {
    const m = new SafetyMonitor();
    m.onApply(1, entry(3, 2, 'a'), 111, 2);
    m.onApply(2, entry(3, 2, 'a'), 111, 3);
    expect(m.violations).toEqual([]);
    m.onApply(3, entry(3, 4, 'b'), 222, 4);
    m.onApply(1, entry(4, 4, 'x'), 5, 4);
    m.onApply(2, entry(4, 4, 'x'), 6, 4);
    expect(m.violations.map((v) => v.kind)).toEqual(['stateMachineSafety', 'stateMachineSafety']);
  });

  it('flags logs that agree on an entry but not on what precedes it', () => {
    const m = new SafetyMonitor();
    m.checkLogs([
      { node: 1, first: 1, prevTerm: 0, entries: [entry(1, 1), entry(2, 2), entry(3, 3)] },
      { node: 2, first: 1, prevTerm: 0, entries: [entry(1, 1), entry(2, 2)] },
    ]);
    expect(m.violations).toEqual([]);
    m.checkLogs([
      { node: 1, first: 1, prevTerm: 0, entries: [entry(1, 1), entry(2, 2), entry(3, 3)] },
      { node: 2, first: 1, prevTerm: 0, entries: [entry(1, 1), entry(2, 1), entry(3, 3)] },
    ]);
    expect(m.violations.map((v) => v.kind)).toEqual(['logMatching']);
  });

  it('flags a leader missing an entry committed in an earlier term', () => {
    const m = new SafetyMonitor();
    m.onApply(1, entry(1, 1), 1, 1);
    m.onApply(1, entry(2, 2), 2, 2);
    // Leader of term 3 whose log has index 1 but a different term at index 2.
    m.onLeader(2, 3, { snapIndex: 0, terms: [1, 3] });
    // Leader of term 2 itself need not have entries committed later.
    m.onLeader(3, 2, { snapIndex: 0, terms: [1] });
    m.finish();
    expect(m.violations.map((v) => v.kind)).toEqual(['leaderCompleteness']);
    expect(m.violations[0]!.message).toContain('leader 2 of term 3');
  });
});
