// Public surface of Shoal's Raft consensus core.
//
// The core is a pure, deterministic state machine in the style of etcd's `raft` package: no
// timers, sockets, clocks, randomness or files. Time is `tick()`, randomness is the injected
// `RaftConfig.random`, and all I/O is done by the host from `Ready` batches (see the contract
// on `Ready` in types.ts and on `RaftNode` in core/raw-node.ts).
//
// Layout of core/: raft-base.ts (state, role transitions, ticks, elections, step dispatch),
// raft-follower.ts (follower and candidate rules), raft.ts (leader: replication, commit, reads,
// transfer, membership), raw-node.ts (RaftNode: the host-facing API, Ready/advance), plus the
// log (raft-log.ts, unstable.ts), MemoryStorage, flow control (progress.ts, inflights.ts),
// quorum arithmetic (quorum.ts, tracker.ts), conf changes (confchange.ts) and ReadIndex
// bookkeeping (read-only.ts).
//
// Extension points for deliberately BROKEN variants. Tests and the simulator subclass RaftNode
// and override these protected methods to check that their checkers catch the bug; ready-made
// ones are in test/raft/broken-variants.ts.
//
//   canCommitAt(index): boolean                                              [raft.ts]
//       Figure 8 rule: the leader commits by counting replicas only entries of its current
//       term. Broken: `return true` (commits an old-term entry once a majority stores it).
//   maybeCommit(): boolean                                                   [raft.ts]
//       How the leader's commit index advances from the quorum's match indexes.
//   appendAfterConflict(ents: Entry[]): void                                 [raft-follower.ts]
//       How a follower stores entries starting at the first missing/conflicting one; the
//       default truncates its conflicting suffix. Broken: append only entries beyond
//       `this.log.lastIndex()` (keeps the divergent suffix).
//   acceptEntries(prevIndex, prevTerm, leaderCommit, ents): number | undefined  [raft-follower.ts]
//       The whole AppendEntries consistency check on the follower.
//   handleReadIndexAtLeader(m: Message): void                                [raft.ts]
//       How the leader serves a ReadIndex request. Broken: `this.respondToRead(m,
//       this.log.committed)` (answers without confirming leadership or a current-term commit).
//   respondToRead(req: Message, index: number): void                         [raft.ts]
//       Delivers a confirmed read index (a ReadState locally, readIndexResp to a forwarder).
//   leaseValid(): boolean                                                    [raft.ts]
//       Lease check for readOnlyOption 'leaseBased' (its clock assumptions are documented there).
//   shouldGrantVote(m), inLease(m): boolean                                  [raft-base.ts]
//       Voting rules (election restriction; leader lease against disruptive candidates).
//   restartLeaseGuard (field)                                                [raft-base.ts]
//       Set it false in a subclass constructor to forget leases across restarts.
//   handleAppendEntries, handleHeartbeat, handleSnapshot, restore, stepFollower, stepCandidate
//       [raft-follower.ts]; stepLeader, handleProposal, handleAppendResponse,
//       handleHeartbeatResponse, handleTransferLeader, becomeLeader, maybeSendAppend,
//       sendSnapshot, switchToConfig [raft.ts]: finer-grained hooks.
//
// Inside an override, `this.log` (RaftLog), `this.tracker` (ProgressTracker), `this.term`,
// `this.role` and `this.id` are available.

export * from './types.js';
export { RaftNode, type NodeStatus, type ProgressStatus } from './core/raw-node.js';
export { Raft } from './core/raft.js';
export { message } from './core/message.js';
export { MemoryStorage, bootstrapSnapshot, emptyConfState } from './core/memory-storage.js';
export { encodeConfChange, decodeConfChange, ConfChangeError } from './core/confchange.js';
export { ProposalDroppedError, type DropReason } from './core/errors.js';
export { RaftInvariantError } from './core/assert.js';
export { entrySize } from './core/entry-size.js';
export { RaftLog } from './core/raft-log.js';
export { Progress, type ProgressState } from './core/progress.js';
export { Inflights } from './core/inflights.js';
export { ProgressTracker, type MembershipConfig } from './core/tracker.js';
