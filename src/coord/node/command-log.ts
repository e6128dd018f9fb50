// The seam between the API and consensus. The server proposes commands; a CommandLog decides
// their order, makes them durable (single node: the WAL; replicated: a Raft quorum) and applies
// them to the state machine in that order. Both logs implement this interface; the node's
// assembly (coord-node.ts) is the same for both.
import type { Command, CommandResult } from '../types.js';
import type { MemberRecord } from './cluster-state.js';

export type { MemberRecord };

export interface CommandLog {
  /**
   * Orders, persists and applies `cmd`. Resolves with the command's result once it is durable
   * and applied here; rejects with the command's CoordError when applying it failed (the
   * command stays in the log and fails the same way on every replay), or with UNAVAILABLE when
   * the log stopped or the outcome is unknown (a leader was lost: the command may still apply).
   */
  propose(cmd: Command): Promise<CommandResult>;
  /**
   * Waits until a linearizable read may be served: every command committed before the call has
   * been applied. Returns null when that already holds, so reads need not allocate a promise.
   */
  readBarrier(): Promise<void> | null;
  /** Index of the last applied command (etcd's raftAppliedIndex). */
  readonly appliedIndex: number;
  /** Index of the last command known durable (etcd's raftIndex). */
  readonly committedIndex: number;
  readonly term: number;
  /** Member id of the current leader; 0 when there is none. */
  readonly leaderId: number;
  /** This member is the leader: it decides lease expiry. */
  readonly isLeader: boolean;
  readonly isLearner: boolean;
  readonly membership: Membership;
  /** Log-specific figures for the shutdown log line. */
  stats(): object;
  /** Stops accepting proposals, lets in-flight ones finish, releases storage. */
  close(): Promise<void>;
}

/** The cluster's members, changed through the log (etcd's Cluster service). */
export interface Membership {
  readonly clusterId: number;
  /** True once this member applied its own removal: it must stop serving. */
  readonly removed: boolean;
  members(): MemberRecord[];
  /** Adds a member known by its peer URLs; it starts unnamed until it publishes its attributes. */
  add(peerUrls: string[], isLearner: boolean): Promise<{ member: MemberRecord; members: MemberRecord[] }>;
  remove(id: number): Promise<MemberRecord[]>;
  /** Makes a learner a voter once it has caught up with the leader. */
  promote(id: number): Promise<MemberRecord[]>;
  updatePeerUrls(id: number, peerUrls: string[]): Promise<MemberRecord[]>;
  /** This member's name and client URLs, as the others will list them. */
  publish(name: string, clientUrls: string[]): void;
  /** Hands leadership to `to` (only on the leader); resolves once `to` leads. */
  moveLeader(to: number): Promise<void>;
}
