// Figure 8 and churn, on reliable and unreliable networks (the names of the MIT 6.824 Raft
// tests: TestFigure8, TestFigure8Unreliable, TestReliableChurn, TestUnreliableChurn).
//
// Figure 8 (paper 5.4.2): leaders append an entry, get it to at most a random subset of the
// others, and crash; new leaders are elected from whoever is left, so old-term entries sit on
// minorities and majorities in every combination. Churn: any node crashes, restarts or is cut
// off at any time while proposals arrive at random nodes. In both, the Raft safety properties
// (election safety, log matching, leader completeness, state-machine safety: checkInvariants)
// are checked after every step, and once the faults stop every node must apply one final entry
// within a bound. The unreliable variants also drop, duplicate, reorder and hold back messages.
//
// A crash here loses nothing (the harness persists each Ready before acting on it); crashes
// that lose unsynced writes and tear records are the simulator's (test/raft/sim).

import { describe, expect, it } from 'vitest';
import { ProposalDroppedError, type NodeId } from '../../src/raft/index.js';
import { Network, bytes, seededRandom, type NodeFactory } from './harness.js';
import { brokenFactories } from './broken-variants.js';
import { checkInvariants } from './random-walk.js';

const IDS: NodeId[] = [1, 2, 3, 4, 5];
/** Ticks after the heal within which every node must apply the final entry. */
const LIVENESS_TICKS = 200;

interface Cluster {
  net: Network;
  rnd: () => number;
  /** Crashed nodes: they neither tick nor send nor receive until restarted. */
  down: Set<NodeId>;
  /** Nodes cut off from everyone while still running. */
  cutOff: Set<NodeId>;
  seen: Parameters<typeof checkInvariants>[1];
  /**
   * Figure 8 runs only: per leader and term (`leader:term`), whether that reign is doomed to
   * crash, which followers its appends reach before it does, and whether only entries of
   * earlier terms get out (it crashes between sending the old entries and its own).
   */
  reigns: Map<string, { doomed: boolean; reach: Set<NodeId>; oldOnly: boolean }> | undefined;
  proposed: Set<string>;
  unreliable: boolean;
}

function cluster(seed: number, unreliable: boolean, factory?: NodeFactory): Cluster {
  const rnd = seededRandom(seed);
  const net = Network.of(IDS, { seed, preVote: rnd() < 0.5, checkQuorum: rnd() < 0.5, maxSizePerMsg: 256, maxInflightMsgs: 8, factory });
  const c: Cluster = {
    net,
    rnd,
    down: new Set(),
    cutOff: new Set(),
    seen: { leaderOfTerm: new Map(), committedTerm: new Map(), committedBy: new Map() },
    reigns: undefined,
    proposed: new Set(),
    unreliable,
  };
  const dropRate = unreliable ? 0.1 : 0;
  net.filter = (m) => {
    if (c.reigns && m.type === 'app') {
      const key = `${m.from}:${m.term}`;
      let reign = c.reigns.get(key);
      if (reign === undefined) {
        const reach = new Set(IDS.filter((id) => id !== m.from && rnd() < 0.4).slice(0, 2));
        reign = { doomed: rnd() < 0.6, reach, oldOnly: rnd() < 0.5 };
        c.reigns.set(key, reign);
      }
      if (reign.doomed) {
        if (!reign.reach.has(m.to)) return false;
        if (reign.oldOnly) m.entries = m.entries.filter((e) => e.term < m.term);
      }
    }
    return dropRate === 0 || rnd() >= dropRate;
  };
  if (unreliable) net.chaos = { reorder: true, duplicateRate: 0.05, delayRate: 0.1 };
  return c;
}

/** Re-derives the cut links from who is down or cut off. */
function relink(c: Cluster): void {
  c.net.heal();
  for (const id of [...c.down, ...c.cutOff]) c.net.isolate(id);
}

function crash(c: Cluster, id: NodeId): void {
  c.down.add(id);
  relink(c);
}

function restart(c: Cluster, id: NodeId): void {
  c.down.delete(id);
  c.net.restart(id);
  relink(c);
}

const running = (c: Cluster): NodeId[] => IDS.filter((id) => !c.down.has(id));

function currentLeader(c: Cluster): NodeId | undefined {
  let best: NodeId | undefined;
  for (const id of running(c)) {
    const n = c.net.node(id);
    if (n.role === 'leader' && !c.cutOff.has(id) && (best === undefined || n.term > c.net.node(best).term)) best = id;
  }
  return best;
}

function propose(c: Cluster, at: NodeId, value: string): void {
  c.proposed.add(value);
  try {
    c.net.node(at).propose(bytes(value));
  } catch (e) {
    if (!(e instanceof ProposalDroppedError)) throw e;
  }
}

function check(c: Cluster, label: string): void {
  try {
    checkInvariants(c.net, c.seen);
  } catch (e) {
    throw new Error(`${label}: ${String(e)}`, { cause: e });
  }
}

/**
 * Faults stop: every node runs and is connected on a reliable network. Within LIVENESS_TICKS a
 * leader commits a final entry that every node applies, and all state machines are equal.
 * Returns the ticks that took, the entries applied and the terms that had a leader.
 */
function healAndConverge(c: Cluster, label: string): { ticks: number; applied: number; terms: number } {
  c.reigns = undefined;
  c.net.recover();
  for (const id of [...c.down]) restart(c, id);
  c.cutOff.clear();
  relink(c);
  let finals = 0;
  let proposedAt = -Infinity;
  for (let t = 1; t <= LIVENESS_TICKS; t++) {
    c.net.tickAll(1);
    check(c, `${label} after the heal`);
    const applied = IDS.map((id) => c.net.peer(id).applied);
    const same = applied.every((a) => a.length === applied[0]!.length && a.every((v, i) => v === applied[0]![i]));
    if (same && applied[0]!.some((v) => v.startsWith('final'))) {
      // Every applied value was proposed. Without duplicated messages none was applied twice (a
      // duplicated forwarded proposal is appended twice: deduplication is the state machine's job).
      for (const v of applied[0]!) expect(c.proposed.has(v), `${label}: ${v} applied but never proposed`).toBe(true);
      if (!c.unreliable) expect(new Set(applied[0]).size, `${label}: a value applied twice`).toBe(applied[0]!.length);
      return { ticks: t, applied: applied[0]!.length, terms: c.seen.leaderOfTerm.size };
    }
    // A final entry proposed to a leader that then lost its term may be gone: propose another.
    const leader = currentLeader(c);
    if (leader !== undefined && t - proposedAt >= 30) {
      propose(c, leader, `final${++finals}`);
      c.net.stabilize();
      proposedAt = t;
    }
  }
  throw new Error(`${label}: not every node applied a final entry within ${LIVENESS_TICKS} ticks of the heal`);
}

function figure8(seed: number, unreliable: boolean, factory?: NodeFactory): { ticks: number; applied: number; terms: number; crashes: number } {
  const c = cluster(seed, unreliable, factory);
  c.reigns = new Map();
  const label = `Figure 8 ${unreliable ? 'unreliable' : 'reliable'} seed ${seed}`;
  let crashes = 0;
  for (let iter = 0; iter < 150; iter++) {
    const leader = currentLeader(c);
    if (leader !== undefined) {
      propose(c, leader, `s${seed}v${iter}`);
      c.net.stabilize();
      // A doomed leader's appends reached at most two followers (so not always a majority),
      // maybe only its predecessors' entries; now it crashes. Others crash now and then, after
      // replicating normally, so that leadership keeps moving.
      if (c.reigns.get(`${leader}:${c.net.node(leader).term}`)?.doomed || c.rnd() < 0.3) {
        crash(c, leader);
        crashes++;
      }
    }
    // Mostly short gaps, sometimes long enough for several elections (as in 6.824).
    const ticks = c.rnd() < 0.1 ? 1 + Math.floor(c.rnd() * 30) : 1 + Math.floor(c.rnd() * 3);
    c.net.tickAll(ticks, running(c));
    // Keep a majority running most of the time, so new leaders keep being elected.
    if (c.down.size > 0 && (running(c).length < 3 || c.rnd() < 0.3)) {
      const ds = [...c.down];
      restart(c, ds[Math.floor(c.rnd() * ds.length)]!);
    }
    check(c, `${label} iteration ${iter}`);
  }
  return { ...healAndConverge(c, label), crashes };
}

function churn(seed: number, unreliable: boolean): { ticks: number; applied: number; terms: number; events: number } {
  const c = cluster(seed, unreliable);
  const label = `churn ${unreliable ? 'unreliable' : 'reliable'} seed ${seed}`;
  let events = 0;
  for (let step = 0; step < 300; step++) {
    const up = running(c);
    // Proposals arrive at random running nodes (followers forward them to the leader).
    for (let k = Math.floor(c.rnd() * 3); k > 0; k--) propose(c, up[Math.floor(c.rnd() * up.length)]!, `s${seed}p${step}.${k}`);
    c.net.stabilize();
    const r = c.rnd();
    const pick = (xs: NodeId[]) => xs[Math.floor(c.rnd() * xs.length)];
    let id: NodeId | undefined;
    if (r < 0.1) {
      if (up.length > 1 && (id = pick(up)) !== undefined) crash(c, id);
    } else if (r < 0.2) {
      if ((id = pick([...c.down])) !== undefined) restart(c, id);
    } else if (r < 0.27) {
      if ((id = pick(up.filter((x) => !c.cutOff.has(x)))) !== undefined) c.cutOff.add(id);
    } else if (r < 0.34) {
      if ((id = pick([...c.cutOff])) !== undefined) c.cutOff.delete(id);
    }
    if (id !== undefined) {
      relink(c);
      events++;
    }
    c.net.tickAll(1 + Math.floor(c.rnd() * 3), running(c));
    check(c, `${label} step ${step}`);
  }
  return { ...healAndConverge(c, label), events };
}

const SEEDS = Array.from({ length: 12 }, (_, i) => i + 1);

function total<T extends Record<string, number>>(runs: T[]): T {
  const sum = {} as Record<string, number>;
  for (const r of runs) for (const [k, v] of Object.entries(r)) sum[k] = (sum[k] ?? 0) + v;
  sum.ticks = Math.max(...runs.map((r) => r.ticks!));
  return sum as T;
}

describe('Figure 8 (paper 5.4.2) under crashing leaders', () => {
  it('Figure 8 (reliable network): leaders crash after reaching a random minority; safe, and all nodes converge', () => {
    const t = total(SEEDS.map((seed) => figure8(seed, false)));
    console.log(`Figure 8 reliable, ${SEEDS.length} seeds:`, t);
    expect(t.crashes).toBeGreaterThan(SEEDS.length * 20);
    expect(t.terms).toBeGreaterThan(SEEDS.length * 20);
    expect(t.applied).toBeGreaterThan(SEEDS.length * 20);
  });

  it('Figure 8 (unreliable network): the same with drops, duplicates, reordering and delays', () => {
    const t = total(SEEDS.map((seed) => figure8(100 + seed, true)));
    console.log(`Figure 8 unreliable, ${SEEDS.length} seeds:`, t);
    expect(t.crashes).toBeGreaterThan(SEEDS.length * 10);
    expect(t.terms).toBeGreaterThan(SEEDS.length * 10);
    expect(t.applied).toBeGreaterThan(SEEDS.length * 10);
  });

  it('the same runs catch a core that commits an old-term entry by counting replicas', () => {
    for (const unreliable of [false, true]) {
      let caught: string | undefined;
      for (let seed = 1; seed <= 50 && caught === undefined; seed++) {
        try {
          figure8((unreliable ? 100 : 0) + seed, unreliable, brokenFactories.commitsOldTermEntries);
        } catch (e) {
          caught = String(e);
        }
      }
      console.log(`broken core, Figure 8 ${unreliable ? 'unreliable' : 'reliable'}: ${caught}`);
      expect(caught).toMatch(/committed entry \d+ changed term|lacks committed entry|differ/);
    }
  });
});

describe('churn', () => {
  it('churn (reliable network): nodes crash, restart, disconnect and reconnect under load; safe, and all nodes converge', () => {
    const t = total(SEEDS.map((seed) => churn(200 + seed, false)));
    console.log(`churn reliable, ${SEEDS.length} seeds:`, t);
    expect(t.events).toBeGreaterThan(SEEDS.length * 30);
    expect(t.applied).toBeGreaterThan(SEEDS.length * 50);
  });

  it('churn (unreliable network): the same with drops, duplicates, reordering and delays', () => {
    const t = total(SEEDS.map((seed) => churn(300 + seed, true)));
    console.log(`churn unreliable, ${SEEDS.length} seeds:`, t);
    expect(t.events).toBeGreaterThan(SEEDS.length * 30);
    expect(t.applied).toBeGreaterThan(SEEDS.length * 50);
  });
});
