import {
  CAMPAIGN_TRANSFER,
  NONE,
  type Message,
  type MessageType,
  type NodeId,
  type RaftConfig,
  type ReadOnlyOption,
  type ReadState,
  type Role,
} from '../types.js';
import { invariant } from './assert.js';
import type { DropReason } from './errors.js';
import { message } from './message.js';
import type { Progress } from './progress.js';
import { RaftLog } from './raft-log.js';
import { ReadOnlyQueue } from './read-only.js';
import { ProgressTracker, confStateToMembership } from './tracker.js';

/** Message kinds that promise durable state, so the host sends them only after persisting. */
const AFTER_PERSIST: ReadonlySet<MessageType> = new Set<MessageType>(['appResp', 'voteResp', 'vote']);

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export type CampaignKind = 'preElection' | 'election' | 'transfer';

/**
 * The Raft consensus algorithm as a deterministic state machine (etcd's `raft` struct), in three
 * layers: this one holds the state, role transitions, timers, elections and the step dispatch;
 * RaftFollower (raft-follower.ts) the follower and candidate rules; Raft (raft.ts) the leader's.
 * It never does I/O: inputs are ticks and messages, outputs accumulate in `msgs` and the log's
 * unstable part, and RaftNode packages them as Ready batches for the host.
 *
 * Decisions that a test may want to break on purpose are protected methods (see index.ts).
 */
export abstract class RaftBase {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = 'follower';
  readonly log: RaftLog;
  tracker: ProgressTracker;

  /** Leader: the node leadership is being handed to, or NONE. */
  leadTransferee: NodeId = NONE;
  /** Leader: index of the latest confChange entry proposed; another waits until it is applied. */
  pendingConfIndex = 0;

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  /** Leader: ticks since it took office; heartbeats carry it so acks date the lease. */
  protected leaderTicks = 0;
  /**
   * Lease reads: a restarted node may have acknowledged a leader's heartbeat just before it
   * crashed, so it honours that (forgotten) lease by ignoring votes for one election timeout.
   */
  protected restartLeaseGuard = false;

  protected readonly electionTimeout: number;
  protected readonly heartbeatTimeout: number;
  protected readonly maxMsgSize: number;
  protected readonly preVote: boolean;
  protected readonly checkQuorum: boolean;
  protected readonly readOnlyOption: ReadOnlyOption;
  protected readonly disableProposalForwarding: boolean;
  private readonly random: () => number;

  protected msgs: Message[] = [];
  protected msgsAfterPersist: Message[] = [];
  protected readStates: ReadState[] = [];
  protected readOnly = new ReadOnlyQueue();
  /** Leader: reads that arrived before it committed an entry of its own term. */
  protected pendingReadIndexMessages: Message[] = [];

  constructor(c: RaftConfig) {
    invariant(Number.isSafeInteger(c.id) && c.id > 0, 'node id must be a positive safe integer');
    invariant(c.heartbeatTick > 0, 'heartbeatTick must be positive');
    invariant(c.electionTick > c.heartbeatTick, 'electionTick must exceed heartbeatTick');
    const readOnlyOption = c.readOnlyOption ?? 'safe';
    invariant(readOnlyOption !== 'leaseBased' || c.checkQuorum === true, 'leaseBased reads need checkQuorum');
    this.id = c.id;
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.maxMsgSize = c.maxSizePerMsg ?? 1024 * 1024;
    this.preVote = c.preVote ?? false;
    this.checkQuorum = c.checkQuorum ?? false;
    this.readOnlyOption = readOnlyOption;
    this.disableProposalForwarding = c.disableProposalForwarding ?? false;
    this.random = c.random;
    this.log = new RaftLog(c.storage, c.maxCommittedSizePerReady);
    this.tracker = new ProgressTracker(c.maxInflightMsgs ?? 256, 0);

    const { hardState, confState } = c.storage.initialState();
    const membership = confStateToMembership(confState);
    const progress = new Map<NodeId, Progress>();
    for (const id of [...membership.voters[0], ...membership.voters[1], ...membership.learners]) {
      progress.set(id, this.tracker.newProgress(this.log.lastIndex() + 1, false));
    }
    this.tracker.config = membership;
    this.tracker.progress = progress;
    for (const [id, p] of progress) p.isLearner = membership.learners.has(id);

    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) {
      // A snapshot is committed by definition, even if the stored commit index predates it.
      invariant(
        hardState.commit <= this.log.lastIndex(),
        () => `stored commit ${hardState.commit} beyond the last index ${this.log.lastIndex()}`,
      );
      this.log.committed = Math.max(this.log.committed, hardState.commit);
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    invariant(this.log.lastTerm() <= this.term, 'log has entries from a term later than the stored term');
    // Term 1 is the bootstrap term: no leader (hence no lease) ever existed in it.
    this.restartLeaseGuard = this.readOnlyOption === 'leaseBased' && this.term >= 2;
    const applied = c.applied ?? 0;
    if (applied > this.log.applied) this.log.appliedTo(applied);
    this.becomeFollower(this.term, NONE);
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** Queues a message. Fills in `from` and, except for term-less kinds, the current term. */
  protected send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    invariant(m.to !== this.id && m.to !== NONE, () => `message ${m.type} to ${m.to} from ${this.id}`);
    if (m.type === 'vote' || m.type === 'voteResp' || m.type === 'preVote' || m.type === 'preVoteResp') {
      // Votes carry the term they are about (a pre-vote's is the next term).
      invariant(m.term !== 0, `${m.type} without a term`);
    } else if (m.type === 'prop' || m.type === 'readIndex') {
      // Forwarded requests stay term-less: the leader treats them like local requests.
      m.term = 0;
    } else {
      m.term = this.term;
    }
    if (AFTER_PERSIST.has(m.type)) this.msgsAfterPersist.push(m);
    else this.msgs.push(m);
  }

  // -------------------------------------------------------------------------------------------
  // Role transitions

  protected resetRandomizedElectionTimeout(): void {
    const r = this.random();
    invariant(r >= 0 && r < 1, () => `random() returned ${r}, outside [0, 1)`);
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(r * this.electionTimeout);
  }

  protected reset(term: number): void {
    if (this.term !== term) {
      invariant(term > this.term, () => `term going backwards: ${this.term} -> ${term}`);
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.leaderTicks = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.tracker.resetVotes();
    const next = this.log.lastIndex() + 1;
    for (const [id, old] of this.tracker.progress) {
      const p = this.tracker.newProgress(next, old.isLearner);
      if (id === this.id) {
        p.match = this.log.persistedLastIndex();
        p.next = Math.max(next, p.match + 1);
        p.recentActive = true;
      }
      this.tracker.progress.set(id, p);
    }
    this.pendingConfIndex = 0;
    this.readOnly = new ReadOnlyQueue();
    this.pendingReadIndexMessages = [];
  }

  protected becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  protected becomePreCandidate(): void {
    invariant(this.role !== 'leader', 'leader cannot become pre-candidate');
    // A pre-candidate changes neither term nor vote: a failed pre-vote leaves no trace.
    this.tracker.resetVotes();
    this.lead = NONE;
    this.role = 'preCandidate';
  }

  protected becomeCandidate(): void {
    invariant(this.role !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }


  /** Can this node campaign: a voter, with no snapshot waiting to be persisted. */
  promotable(): boolean {
    const p = this.tracker.progress.get(this.id);
    return p !== undefined && !p.isLearner && this.log.unstable.snapshot === undefined;
  }

  protected abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  protected abstract becomeLeader(): void;

  // -------------------------------------------------------------------------------------------
  // Ticks

  protected tickElection(): void {
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) this.restartLeaseGuard = false;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.stepMessage(message({ type: 'hup', from: this.id }));
    }
  }

  protected tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.leaderTicks++;
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined) self.heartbeatAckTick = this.leaderTicks;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.stepMessage(message({ type: 'checkQuorum', from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.stepMessage(message({ type: 'beat', from: this.id }));
    }
  }

  protected tickOnce(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  // -------------------------------------------------------------------------------------------
  // Elections

  protected hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const ents = this.log.slice(Math.max(this.log.applied + 1, this.log.firstIndex()), this.log.committed + 1);
    return ents.some((e) => e.type === 'confChange');
  }

  protected hup(kind: CampaignKind): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // The configuration this node would lead with is not known until those are applied.
    if (this.hasUnappliedConfChanges()) return;
    this.startCampaign(kind);
  }

  protected startCampaign(kind: CampaignKind): void {
    let voteType: 'vote' | 'preVote';
    let term: number;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteType = 'preVote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = 'vote';
      term = this.term;
    }
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tallyVotes().result === 'won') {
      // A single-voter cluster wins at once.
      if (kind === 'preElection') this.startCampaign('election');
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.tracker.voterIds()) {
      if (id === this.id) continue;
      const m = message({ type: voteType, to: id, term, index: lastIndex, logTerm: lastTerm });
      if (kind === 'transfer') m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  /** Whether this node grants the vote (or pre-vote) request `m`. */
  protected shouldGrantVote(m: Message): boolean {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === 'preVote' && m.term > this.term);
    return canVote && this.log.isUpToDate(m.index, m.logTerm);
  }

  protected handleVoteRequest(m: Message): void {
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (this.shouldGrantVote(m)) {
      // The grant names the request's term: for a pre-vote that is a term we are not in.
      this.send(message({ type: respType, to: m.from, term: m.term }));
      if (m.type === 'vote') {
        invariant(this.vote === NONE || this.vote === m.from, () => `second vote in term ${this.term}`);
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(message({ type: respType, to: m.from, term: this.term, reject: true }));
    }
  }

  /**
   * Leader lease (with check-quorum): a node that heard from a leader within the election
   * timeout ignores vote requests, so a partitioned node rejoining with a higher term cannot
   * depose a healthy leader. A transfer's campaign is exempt: the leader asked for it.
   */
  protected inLease(m: Message): boolean {
    const force = sameBytes(m.context, CAMPAIGN_TRANSFER);
    const leased = this.lead !== NONE || this.restartLeaseGuard;
    return !force && this.checkQuorum && leased && this.electionElapsed < this.electionTimeout;
  }

  // -------------------------------------------------------------------------------------------
  // Step: the single entry point for every message

  /** Returns the reason when a proposal (or read, or transfer) is dropped. */
  stepMessage(m: Message): DropReason | undefined {
    if (m.term === 0) {
      // local message or term-less forwarded request
    } else if (m.term > this.term) {
      if ((m.type === 'vote' || m.type === 'preVote') && this.inLease(m)) return undefined;
      if (m.type === 'preVote') {
        // Pre-votes never change our term.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // A granted pre-vote is for the term we would campaign in; ours stays until we do.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
        // A stale leader cut off from the cluster never sees a higher-term vote request (we
        // ignore theirs in the lease, or pre-vote keeps terms unchanged): tell it our term so
        // it steps down.
        this.send(message({ type: 'appResp', to: m.from }));
      } else if (m.type === 'preVote') {
        this.send(message({ type: 'preVoteResp', to: m.from, term: this.term, reject: true }));
      }
      return undefined;
    }

    switch (m.type) {
      case 'hup':
        this.hup(this.preVote ? 'preElection' : 'election');
        return undefined;
      case 'vote':
      case 'preVote':
        this.handleVoteRequest(m);
        return undefined;
      default:
        switch (this.role) {
          case 'follower':
            return this.stepFollower(m);
          case 'preCandidate':
          case 'candidate':
            return this.stepCandidate(m);
          case 'leader':
            return this.stepLeader(m);
        }
    }
  }

  protected abstract stepFollower(m: Message): DropReason | undefined;
  protected abstract stepCandidate(m: Message): DropReason | undefined;
  protected abstract stepLeader(m: Message): DropReason | undefined;
}
