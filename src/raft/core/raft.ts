import {
  CAMPAIGN_TRANSFER,
  NONE,
  StorageError,
  type Entry,
  type Message,
  type MessageType,
  type NodeId,
  type RaftConfig,
  type ReadOnlyOption,
  type ReadState,
  type Role,
  type Snapshot,
} from '../types.js';
import { invariant } from './assert.js';
import { computeConfChange, decodeConfChange, type ChangeResult } from './confchange.js';
import { entrySize } from './entry-size.js';
import type { DropReason } from './errors.js';
import { jointVote } from './quorum.js';
import { RaftLog } from './raft-log.js';
import { ReadOnlyQueue } from './read-only.js';
import { ProgressTracker, confStateToMembership, type MembershipConfig } from './tracker.js';
import type { Progress } from './progress.js';

/** Message kinds that promise durable state, so the host sends them only after persisting. */
const AFTER_PERSIST: ReadonlySet<MessageType> = new Set<MessageType>(['appResp', 'voteResp', 'vote']);

const EMPTY = new Uint8Array(0);

export function message(m: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: NONE,
    to: NONE,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    ...m,
  };
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

type CampaignKind = 'preElection' | 'election' | 'transfer';

/**
 * The Raft consensus algorithm as a deterministic state machine (etcd's `raft` struct). It
 * never does I/O: inputs are ticks and messages, outputs accumulate in `msgs` and the log's
 * unstable part, and RaftNode packages them as Ready batches for the host.
 *
 * Decisions that a test may want to break on purpose are protected methods (see index.ts).
 */
export class Raft {
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
      invariant(
        hardState.commit >= this.log.committed && hardState.commit <= this.log.lastIndex(),
        () => `stored commit ${hardState.commit} outside [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
      this.log.committed = hardState.commit;
      this.term = hardState.term;
      this.vote = hardState.vote;
    }
    invariant(this.log.lastTerm() <= this.term, 'log has entries from a term later than the stored term');
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

  protected becomeLeader(): void {
    invariant(this.role === 'candidate', () => `${this.role} cannot become leader`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    this.tracker.progress.get(this.id)?.becomeReplicate();
    // Entries of earlier terms may be uncommitted; no conf change until they are applied.
    this.pendingConfIndex = this.log.lastIndex();
    // Committing this empty entry commits everything before it (Figure 8) and enables reads.
    this.appendEntry([{ term: 0, index: 0, type: 'normal', data: EMPTY }]);
  }

  /** Can this node campaign: a voter, with no snapshot waiting to be persisted. */
  promotable(): boolean {
    const p = this.tracker.progress.get(this.id);
    return p !== undefined && !p.isLearner && this.log.unstable.snapshot === undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Ticks

  protected tickElection(): void {
    this.electionElapsed++;
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
    return !force && this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
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

  // -------------------------------------------------------------------------------------------
  // Follower

  protected stepFollower(m: Message): DropReason | undefined {
    switch (m.type) {
      case 'prop':
        if (this.lead === NONE) return 'noLeader';
        if (this.disableProposalForwarding) return 'forwardingDisabled';
        this.send({ ...m, from: this.id, to: this.lead });
        return undefined;
      case 'app':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return undefined;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return undefined;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return undefined;
      case 'transferLeader':
        if (this.lead === NONE) return 'noLeader';
        // `from` stays the transferee.
        this.send({ ...m, to: this.lead });
        return undefined;
      case 'timeoutNow':
        // The leader hands over: campaign at once, skipping pre-vote (the leader consented).
        this.hup('transfer');
        return undefined;
      case 'readIndex':
        if (this.lead === NONE) return 'noLeader';
        this.send({ ...m, from: this.id, to: this.lead });
        return undefined;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context ?? EMPTY });
        return undefined;
      default:
        return undefined;
    }
  }

  protected handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      // Everything up to our commit index is already known to match the leader.
      this.send(message({ type: 'appResp', to: m.from, index: this.log.committed }));
      return;
    }
    const lastNew = this.acceptEntries(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send(message({ type: 'appResp', to: m.from, index: lastNew }));
      return;
    }
    // Reject with a hint: the last index at or below m.index whose term is <= m.logTerm. The
    // leader can then skip straight past every entry of a divergent term (thesis 5.3 note).
    let hintIndex = Math.min(m.index, this.log.lastIndex());
    hintIndex = this.log.findConflictByTerm(hintIndex, m.logTerm);
    const hintTerm = this.log.termOrZero(hintIndex);
    this.send(
      message({ type: 'appResp', to: m.from, index: m.index, reject: true, rejectHint: hintIndex, logTerm: hintTerm }),
    );
  }

  /**
   * AppendEntries consistency check and append (paper Figure 2, receiver rules 2-5). Returns
   * the last index known to match the leader, or undefined if the entry before `ents` does not.
   */
  protected acceptEntries(prevIndex: number, prevTerm: number, leaderCommit: number, ents: Entry[]): number | undefined {
    if (!this.log.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const conflict = this.log.findConflict(ents);
    if (conflict !== 0) {
      invariant(conflict > this.log.committed, () => `entry ${conflict} conflicts with committed ${this.log.committed}`);
      this.appendAfterConflict(ents.slice(conflict - (prevIndex + 1)));
    }
    // Only what is known to match the leader may be committed: not beyond lastNew.
    this.log.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /**
   * `ents` starts at the first entry that is missing here or conflicts with ours. Appending
   * them discards our conflicting suffix (rule 3: delete the existing entry and all after it).
   */
  protected appendAfterConflict(ents: Entry[]): void {
    this.log.append(ents);
  }

  protected handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    const resp = message({ type: 'heartbeatResp', to: m.from, index: m.index });
    if (m.context !== undefined) resp.context = m.context;
    this.send(resp);
  }

  protected handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (s === undefined) return;
    if (this.restore(s)) {
      this.send(message({ type: 'appResp', to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(message({ type: 'appResp', to: m.from, index: this.log.committed }));
    }
  }

  /** Installs a snapshot from the leader. Returns false if it is not needed (or not for us). */
  protected restore(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    if (this.role !== 'follower') return false;
    // The snapshot's config may not contain us yet: a node being added receives a snapshot
    // taken before its addition and learns of it from the confChange entry that follows.
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      // We already have the entry at the snapshot index: the log matches up to it.
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.log.restore(s);
    const config = confStateToMembership(s.meta.conf);
    const progress = new Map<NodeId, Progress>();
    for (const id of [...config.voters[0], ...config.voters[1], ...config.learners]) {
      progress.set(id, this.tracker.newProgress(this.log.lastIndex() + 1, false));
    }
    this.switchToConfig({ config, progress });
    return true;
  }

  // -------------------------------------------------------------------------------------------
  // Candidate and pre-candidate

  protected stepCandidate(m: Message): DropReason | undefined {
    const myVoteResp = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'prop':
      case 'readIndex':
      case 'transferLeader':
        return 'noLeader';
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return undefined;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return undefined;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return undefined;
      case 'preVoteResp':
      case 'voteResp': {
        if (m.type !== myVoteResp) return undefined;
        this.tracker.recordVote(m.from, !m.reject);
        const { result } = this.tracker.tallyVotes();
        if (result === 'won') {
          if (this.role === 'preCandidate') {
            this.startCampaign('election');
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          // A rejection may carry a higher term; stepMessage already adopted it then.
          this.becomeFollower(this.term, NONE);
        }
        return undefined;
      }
      default:
        return undefined;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Leader

  protected stepLeader(m: Message): DropReason | undefined {
    switch (m.type) {
      case 'beat':
        this.bcastHeartbeat();
        return undefined;
      case 'checkQuorum':
        if (!this.tracker.quorumActive(this.id)) {
          // Cut off from a quorum: stop acting as leader so clients go elsewhere.
          this.becomeFollower(this.term, NONE);
          return undefined;
        }
        for (const [id, p] of this.tracker.progress) if (id !== this.id) p.recentActive = false;
        return undefined;
      case 'prop':
        return this.handleProposal(m);
      case 'readIndex':
        this.handleReadIndexAtLeader(m);
        return undefined;
      default:
        break;
    }

    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return undefined;
    switch (m.type) {
      case 'appResp':
        this.handleAppendResponse(m, pr);
        return undefined;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m, pr);
        return undefined;
      case 'snapStatus':
        if (pr.state !== 'snapshot') return undefined;
        // Success: wait for the follower's append response before sending more. Failure:
        // forget the snapshot; the next heartbeat response resumes probing (and may resend).
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        pr.probeSent = true;
        return undefined;
      case 'unreachable':
        // Appends in flight were probably lost: fall back to probing.
        if (pr.state === 'replicate') pr.becomeProbe();
        return undefined;
      case 'transferLeader':
        return this.handleTransferLeader(m, pr);
      default:
        return undefined;
    }
  }

  protected handleProposal(m: Message): DropReason | undefined {
    if (m.entries.length === 0) return 'emptyProposal';
    if (!this.tracker.progress.has(this.id)) return 'removed';
    if (this.leadTransferee !== NONE) return 'transferring';
    const confChanges = m.entries.filter((e) => e.type === 'confChange');
    if (confChanges.length > 1) return 'invalidConfChange';
    if (confChanges.length === 1) {
      if (this.pendingConfIndex > this.log.applied) return 'confChangePending';
      // Dry run against the current config: it is the one in force when this entry applies,
      // because no other conf change can be pending.
      try {
        computeConfChange(this.tracker.config, this.tracker.progress, decodeConfChange(confChanges[0]!.data), (l) =>
          this.tracker.newProgress(1, l),
        );
      } catch {
        return 'invalidConfChange';
      }
    }
    const first = this.log.lastIndex() + 1;
    this.appendEntry(m.entries);
    m.entries.forEach((e, i) => {
      if (e.type === 'confChange') this.pendingConfIndex = first + i;
    });
    this.bcastAppend();
    return undefined;
  }

  protected appendEntry(ents: readonly Entry[]): void {
    const li = this.log.lastIndex();
    const stamped = ents.map((e, i) => ({ term: this.term, index: li + 1 + i, type: e.type, data: e.data }));
    this.log.append(stamped);
    // The leader counts itself toward commit only once the host persisted these (advance).
  }

  protected handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) {
        // The follower's log up to rejectHint ends in term m.logTerm: our last index with a
        // term <= that is the latest point where the logs can still agree.
        nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
      }
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'probe'))) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      // Caught up past our compaction point: entries can flow again.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.onCommitAdvanced();
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from);
    }
    // Pipelining: keep the window full while there are entries to send.
    while (this.maybeSendAppend(m.from, false)) {
      // loop
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  protected handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    if (m.index > pr.heartbeatAckTick && m.index <= this.leaderTicks) pr.heartbeatAckTick = m.index;
    // The follower is alive: let one more append through a full window.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);

    if (m.context === undefined || m.context.length === 0) return;
    const acks = this.readOnly.ack(m.from, m.context);
    if (acks === undefined || jointVote(this.tracker.voters, acks) !== 'won') return;
    for (const r of this.readOnly.confirmUpTo(m.context)) this.respondToRead(r.req, r.index);
  }

  protected handleTransferLeader(m: Message, pr: Progress): DropReason | undefined {
    if (pr.isLearner) return 'invalidConfChange';
    const transferee = m.from;
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return undefined;
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return undefined;
    // The transfer must complete within one election timeout or it is abandoned.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
    return undefined;
  }

  protected sendTimeoutNow(to: NodeId): void {
    this.send(message({ type: 'timeoutNow', to }));
  }

  protected abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  /**
   * Advances the commit index to what a quorum has acknowledged, if that is allowed. Returns
   * whether it moved.
   */
  protected maybeCommit(): boolean {
    const mci = this.tracker.committed();
    if (!Number.isFinite(mci) || mci <= this.log.committed) return false;
    if (!this.canCommitAt(mci)) return false;
    this.log.commitTo(mci);
    return true;
  }

  /**
   * Figure 8: a leader may commit by counting replicas only an entry of its own term; earlier
   * entries become committed indirectly, with it.
   */
  protected canCommitAt(index: number): boolean {
    return this.log.termOrZero(index) === this.term;
  }

  protected onCommitAdvanced(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const held = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of held) this.handleReadIndexAtLeader(m);
  }

  committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  // -------------------------------------------------------------------------------------------
  // Replication

  protected bcastAppend(): void {
    for (const id of this.tracker.memberIds()) if (id !== this.id) this.sendAppend(id);
  }

  protected sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next batch of entries (at most maxSizePerMsg bytes) to `to` if flow control
   * allows, or a snapshot if the entries it needs are compacted. With `sendIfEmpty` false an
   * append without entries is not sent. Returns whether something was sent.
   */
  protected maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.log.term(prevIndex);
      ents = this.log.entries(pr.next, this.maxMsgSize);
    } catch (e) {
      if (e instanceof StorageError && e.code === 'compacted') return this.sendSnapshot(to, pr);
      throw e;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      message({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed }),
    );
    const bytes = ents.reduce((n, e) => n + entrySize(e), 0);
    pr.sentEntries(ents.length, ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex, bytes);
    return true;
  }

  protected sendSnapshot(to: NodeId, pr: Progress): boolean {
    // A follower we have not heard from lately may be down: do not ship it a snapshot.
    if (!pr.recentActive) return false;
    let snap: Snapshot;
    try {
      snap = this.log.snapshot();
    } catch (e) {
      if (e instanceof StorageError && e.code === 'snapshotTemporarilyUnavailable') return false;
      throw e;
    }
    invariant(snap.meta.index > 0, 'need a non-empty snapshot');
    pr.becomeSnapshot(snap.meta.index);
    this.send(message({ type: 'snap', to, snapshot: snap }));
    return true;
  }

  protected bcastHeartbeat(): void {
    const ctx = this.readOnly.lastContext();
    for (const id of this.tracker.memberIds()) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  protected sendHeartbeat(to: NodeId, ctx: Uint8Array | undefined): void {
    const pr = this.tracker.progress.get(to)!;
    // Never tell a follower to commit past what it is known to have: its log may differ.
    const commit = Math.min(pr.match, this.log.committed);
    const m = message({ type: 'heartbeat', to, commit, index: this.leaderTicks });
    if (ctx !== undefined) m.context = ctx;
    this.send(m);
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  /**
   * Serves a ReadIndex request at the leader. Default ('safe'): hold it until an entry of this
   * term is committed (before that the commit index may lag what earlier leaders committed),
   * then record the commit index and confirm leadership with a heartbeat round.
   */
  protected handleReadIndexAtLeader(m: Message): void {
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m);
      return;
    }
    if (this.readOnlyOption === 'leaseBased' && this.leaseValid()) {
      this.respondToRead(m, this.log.committed);
      return;
    }
    if (!this.readOnly.add(this.log.committed, m)) return;
    const acks = this.readOnly.ack(this.id, m.context)!;
    if (jointVote(this.tracker.voters, acks) === 'won') {
      for (const r of this.readOnly.confirmUpTo(m.context)) this.respondToRead(r.req, r.index);
      return;
    }
    for (const id of this.tracker.memberIds()) if (id !== this.id) this.sendHeartbeat(id, m.context);
  }

  /**
   * Lease reads (opt-in, readOnlyOption 'leaseBased', requires checkQuorum). A follower that
   * received a heartbeat sent at leader tick T ignores vote requests until it has counted
   * electionTimeout of its own ticks, i.e. for more than (electionTimeout - 1) tick intervals.
   * At leader tick T + k less than k + 1 intervals have passed since that send. So while a
   * quorum acked heartbeats sent at T with k <= electionTimeout - 3, no other leader can exist,
   * as long as the nodes' tick RATES differ by less than 1/(electionTimeout - 1) (clock drift
   * bound; e.g. ~11% for electionTimeout 10). Violating that bound, or a node restarting and
   * voting before an election timeout passed, can break linearizability: 'safe' has no such
   * assumption.
   */
  protected leaseValid(): boolean {
    if (this.leadTransferee !== NONE) return false;
    const start = this.tracker.quorumMin((p) => p.heartbeatAckTick);
    return start >= 0 && this.leaderTicks - start <= this.electionTimeout - 3;
  }

  /** Hands a confirmed read back: to the local host as a ReadState, or to the forwarder. */
  protected respondToRead(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, context: req.context ?? EMPTY });
    } else {
      const m = message({ type: 'readIndexResp', to: req.from, index });
      if (req.context !== undefined) m.context = req.context;
      this.send(m);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Membership

  protected switchToConfig(next: ChangeResult): void {
    this.tracker.config = next.config;
    this.tracker.progress = next.progress;
    for (const [id, p] of next.progress) p.isLearner = next.config.learners.has(id);
    const self = next.progress.get(this.id);
    if (this.role === 'leader' && (self === undefined || self.isLearner)) {
      // Removed (or demoted): the change is committed, so the rest can elect a leader.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.role !== 'leader' || next.config.voters[0].size === 0) return;
    if (this.maybeCommit()) {
      this.onCommitAdvanced();
      this.bcastAppend();
    } else {
      // Start probing newly added members right away.
      for (const id of this.tracker.memberIds()) if (id !== this.id) this.maybeSendAppend(id, false);
    }
    if (this.leadTransferee !== NONE && !this.tracker.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
  }

  membership(): MembershipConfig {
    return this.tracker.config;
  }
}
