// The nemesis: which faults a run suffers, drawn from its seed.
//
// Each seed first draws a profile (core options, message size, how often faults strike, how
// aggressive the targeted faults are), so the seeds together cover configurations a single
// setting would miss. Faults are random events (partitions, one-way cuts, crashes, restarts,
// lossy links) plus two targeted ones that make Raft's rare interleavings common: isolating
// or crashing a leader right after it is elected (terms whose no-op never replicates) and
// right after it advances its commit index (the figure 8 shape).

import type { NodeHost } from './host.js';
import { CALM, type Network, type NetworkFaults } from './network.js';
import type { Prng } from './prng.js';

export interface FaultProfile {
  preVote: boolean;
  checkQuorum: boolean;
  maxSizePerMsg: number;
  snapshotEvery: number;
  /** Mean ticks between random fault events. */
  faultEveryTicks: number;
  /** Chance that a newly elected leader is cut off or crashed at once. */
  hitNewLeader: number;
  /** Chance that a leader is cut off or crashed right after advancing its commit index. */
  hitOnCommit: number;
}

/**
 * Three temperaments, a third of the seeds each: "chaos" (frequent random faults), "hunter"
 * (rare random faults, leaders hit on election and on commit most of the time: the multi-term
 * interleavings of figure 8 need several leaders in a row to lose their fresh entries) and
 * "mixed" in between.
 */
export function drawProfile(rng: Prng): FaultProfile {
  const mode = rng.pick(['chaos', 'mixed', 'hunter'] as const);
  const base = {
    preVote: rng.chance(0.5),
    checkQuorum: rng.chance(0.5),
    maxSizePerMsg: rng.pick([0, 0, 128, 1024]),
    snapshotEvery: rng.pick([6, 12, 40]),
  };
  switch (mode) {
    case 'chaos':
      return { ...base, faultEveryTicks: rng.pick([5, 10]), hitNewLeader: rng.pick([0, 0.2]), hitOnCommit: rng.pick([0, 0.1]) };
    case 'mixed':
      return { ...base, faultEveryTicks: rng.pick([10, 20]), hitNewLeader: rng.pick([0.2, 0.5]), hitOnCommit: rng.pick([0.1, 0.3]) };
    case 'hunter':
      return { ...base, faultEveryTicks: rng.pick([40, 80]), hitNewLeader: rng.pick([0.7, 0.9]), hitOnCommit: rng.pick([0.6, 0.8]) };
  }
}

export class Nemesis {
  active = true;

  constructor(
    private readonly rng: Prng,
    private readonly profile: FaultProfile,
    private readonly network: Network,
    private readonly hosts: Map<number, NodeHost>,
    private readonly after: (delay: number, run: () => void) => void,
    private readonly tickUnits: number,
  ) {}

  private get ids(): number[] {
    return [...this.hosts.keys()];
  }

  /** Crashes `id`; it restarts by itself after a while (or at a later restart event). */
  private crash(id: number): void {
    const host = this.hosts.get(id)!;
    // Keep one node up: with everything down there is nothing left to test.
    if (!host.up || [...this.hosts.values()].filter((h) => h.up).length <= 1) return;
    host.crash();
    this.after(this.rng.range(2, 40) * this.tickUnits, () => {
      if (this.active) host.restart();
    });
  }

  /** Cuts `id` off from everyone; it reconnects after a while (or at a later heal). */
  private isolate(id: number): void {
    this.network.isolate(id, this.ids);
    this.after(this.rng.range(2, 40) * this.tickUnits, () => {
      if (this.active) this.network.reconnect(id);
    });
  }

  /**
   * Crashes or isolates `id` within a few time units. Isolation also swallows what it already
   * sent (links are checked on arrival); a crash lets that through but loses unsynced writes.
   */
  private hit(id: number, within: number): void {
    this.after(this.rng.range(0, within), () => {
      if (!this.active) return;
      if (this.rng.chance(0.5)) this.crash(id);
      else this.isolate(id);
    });
  }

  onLeaderElected(id: number): void {
    if (this.active && this.rng.chance(this.profile.hitNewLeader)) this.hit(id, 3);
  }

  onLeaderCommitted(id: number): void {
    if (this.active && this.rng.chance(this.profile.hitOnCommit)) this.hit(id, 2);
  }

  /** One random fault event. */
  strike(): void {
    const rng = this.rng;
    const ids = this.ids;
    const up = ids.filter((id) => this.hosts.get(id)!.up);
    const down = ids.filter((id) => !this.hosts.get(id)!.up);
    const r = rng.float();
    if (r < 0.12) {
      const shuffled = rng.shuffle([...ids]);
      const k = rng.range(1, Math.floor((ids.length - 1) / 2));
      this.network.heal();
      this.network.partition([shuffled.slice(0, k), shuffled.slice(k)]);
    } else if (r < 0.22) {
      this.isolate(ids.find((id) => this.hosts.get(id)!.role === 'leader') ?? rng.pick(ids));
    } else if (r < 0.32) {
      // One-way cuts: a node that can send but not receive, or the reverse.
      const n = rng.range(1, ids.length);
      for (let i = 0; i < n; i++) {
        const a = rng.pick(ids);
        const b = rng.pick(ids);
        if (a !== b) this.network.cut(a, b);
      }
    } else if (r < 0.48) {
      this.network.heal();
    } else if (r < 0.64) {
      if (up.length > 0) this.crash(rng.pick(up));
    } else if (r < 0.84) {
      if (down.length > 0) this.hosts.get(rng.pick(down))!.restart();
    } else {
      this.network.faults = randomFaults(rng);
    }
  }

  /** Faults stop: reliable network, every node back up. */
  heal(): void {
    this.active = false;
    this.network.heal();
    this.network.faults = CALM;
    for (const h of this.hosts.values()) h.restart();
  }
}

function randomFaults(rng: Prng): NetworkFaults {
  return {
    drop: rng.pick([0, 0.02, 0.05, 0.1, 0.2]),
    duplicate: rng.pick([0, 0.02, 0.05, 0.1]),
    slow: rng.pick([0, 0.02, 0.05, 0.1]),
    minDelay: 1,
    maxDelay: rng.pick([3, 6, 12]),
    longDelay: rng.pick([20, 60, 150]),
  };
}
