import type { ConfState, NodeId } from '../types.js';
import { invariant } from './assert.js';
import { Progress } from './progress.js';
import { jointCommitted, jointVote, type JointVoters, type VoteResult } from './quorum.js';

/**
 * The membership as the core uses it. `voters[0]` is the incoming (current) majority config,
 * `voters[1]` the outgoing one (non-empty only in a joint config). `learnersNext` are voters of
 * the outgoing config that become learners when the joint config is left.
 */
export interface MembershipConfig {
  voters: [Set<NodeId>, Set<NodeId>];
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
}

export function emptyMembership(): MembershipConfig {
  return { voters: [new Set(), new Set()], learners: new Set(), learnersNext: new Set(), autoLeave: false };
}

export function cloneMembership(c: MembershipConfig): MembershipConfig {
  return {
    voters: [new Set(c.voters[0]), new Set(c.voters[1])],
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

const sorted = (s: Iterable<NodeId>): NodeId[] => [...s].sort((a, b) => a - b);

export function membershipToConfState(c: MembershipConfig): ConfState {
  return {
    voters: sorted(c.voters[0]),
    learners: sorted(c.learners),
    votersOutgoing: sorted(c.voters[1]),
    learnersNext: sorted(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export function confStateToMembership(cs: ConfState): MembershipConfig {
  const c: MembershipConfig = {
    voters: [new Set(cs.voters), new Set(cs.votersOutgoing)],
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
  checkMembership(c);
  return c;
}

/** The structural rules every configuration obeys; a violation is a bug, so it throws. */
export function checkMembership(c: MembershipConfig): void {
  for (const id of [...c.voters[0], ...c.voters[1], ...c.learners, ...c.learnersNext]) {
    invariant(Number.isSafeInteger(id) && id > 0, () => `bad node id ${id}`);
  }
  for (const id of c.learners) {
    invariant(!c.voters[0].has(id) && !c.voters[1].has(id), () => `${id} is both learner and voter`);
  }
  for (const id of c.learnersNext) {
    invariant(c.voters[1].has(id), () => `${id} in learnersNext but not an outgoing voter`);
    invariant(!c.voters[0].has(id), () => `${id} in learnersNext and an incoming voter`);
    invariant(!c.learners.has(id), () => `${id} in learnersNext and learners`);
  }
  const joint = c.voters[1].size > 0;
  if (!joint) {
    invariant(c.learnersNext.size === 0, 'learnersNext outside a joint config');
    invariant(!c.autoLeave, 'autoLeave outside a joint config');
  }
}

export class ProgressTracker {
  config: MembershipConfig = emptyMembership();
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();

  constructor(
    readonly maxInflight: number,
    readonly maxInflightBytes: number,
  ) {}

  isJoint(): boolean {
    return this.config.voters[1].size > 0;
  }

  get voters(): JointVoters {
    return this.config.voters;
  }

  isVoter(id: NodeId): boolean {
    return this.config.voters[0].has(id) || this.config.voters[1].has(id);
  }

  /** Every voter of either half, sorted (deterministic iteration order). */
  voterIds(): NodeId[] {
    return sorted(new Set([...this.config.voters[0], ...this.config.voters[1]]));
  }

  /** Every member with a progress entry (voters and learners), sorted. */
  memberIds(): NodeId[] {
    return sorted(this.progress.keys());
  }

  isSingleton(): boolean {
    return this.config.voters[0].size === 1 && this.config.voters[1].size === 0;
  }

  newProgress(next: number, isLearner: boolean): Progress {
    return new Progress(next, this.maxInflight, this.maxInflightBytes, isLearner);
  }

  /** The largest index acknowledged by a quorum (of both halves when joint). */
  committed(): number {
    return jointCommitted(this.config.voters, (id) => this.progress.get(id)?.match ?? 0);
  }

  /** The largest value of `f` that a quorum has reached (used for lease reads). */
  quorumMin(f: (p: Progress) => number): number {
    return jointCommitted(this.config.voters, (id) => {
      const p = this.progress.get(id);
      return p === undefined ? -1 : f(p);
    });
  }

  quorumActive(selfId: NodeId): boolean {
    const active = new Map<NodeId, boolean>();
    for (const [id, p] of this.progress) {
      if (!p.isLearner) active.set(id, id === selfId || p.recentActive);
    }
    return jointVote(this.config.voters, active) === 'won';
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Only the first answer of each voter counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voterIds()) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: jointVote(this.config.voters, this.votes) };
  }

  confState(): ConfState {
    return membershipToConfState(this.config);
  }
}
