import type { NodeId } from '../types.js';

// Quorum arithmetic for a majority configuration and for a joint one (two majorities that must
// both agree). An empty majority config agrees with everything, so a joint config whose
// outgoing half is empty behaves exactly like its incoming half.

export type VoteResult = 'won' | 'lost' | 'pending';

/** The highest index that a majority of `voters` has, given each voter's index. */
export function majorityCommitted(voters: ReadonlySet<NodeId>, indexOf: (id: NodeId) => number): number {
  if (voters.size === 0) return Number.POSITIVE_INFINITY;
  const indexes: number[] = [];
  for (const id of voters) indexes.push(indexOf(id));
  indexes.sort((a, b) => b - a);
  return indexes[Math.floor(voters.size / 2)]!;
}

export function majorityVote(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return 'won';
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = Math.floor(voters.size / 2) + 1;
  if (granted >= q) return 'won';
  if (granted + missing >= q) return 'pending';
  return 'lost';
}

export type JointVoters = readonly [ReadonlySet<NodeId>, ReadonlySet<NodeId>];

export function jointCommitted(voters: JointVoters, indexOf: (id: NodeId) => number): number {
  return Math.min(majorityCommitted(voters[0], indexOf), majorityCommitted(voters[1], indexOf));
}

export function jointVote(voters: JointVoters, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const a = majorityVote(voters[0], votes);
  const b = majorityVote(voters[1], votes);
  if (a === b) return a;
  if (a === 'lost' || b === 'lost') return 'lost';
  return 'pending';
}
