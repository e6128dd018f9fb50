import { NONE, StorageError, type Entry, type Message, type NodeId, type Snapshot } from '../types.js';
import { invariant } from './assert.js';
import { computeConfChange, decodeConfChange, type ChangeResult } from './confchange.js';
import { entrySize } from './entry-size.js';
import type { DropReason } from './errors.js';
import { message } from './message.js';
import type { Progress } from './progress.js';
import { jointVote } from './quorum.js';
import { RaftFollower } from './raft-follower.js';
import type { MembershipConfig } from './tracker.js';

const EMPTY = new Uint8Array(0);

/** The complete algorithm: the leader's rules on top of RaftFollower (see RaftBase). */
export class Raft extends RaftFollower {
  protected override becomeLeader(): void {
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

  // -------------------------------------------------------------------------------------------
  // Leader

  protected override stepLeader(m: Message): DropReason | undefined {
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
    // Within one term the leader's log only grows, so no follower can match beyond its end.
    invariant(m.index <= this.log.lastIndex(), () => `${m.from} acknowledged ${m.index} beyond our log`);
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
      this.bcastCommit();
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

  protected override bcastAppend(): void {
    for (const id of this.tracker.memberIds()) if (id !== this.id) this.sendAppend(id);
  }

  /**
   * After the commit index moved: appends to everyone, as bcastAppend, but those without
   * entries to followers in replicate state are marked commit notices (Message.commitOnly).
   */
  protected bcastCommit(): void {
    for (const id of this.tracker.memberIds()) if (id !== this.id) this.maybeSendAppend(id, true, true);
  }

  protected sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next batch of entries (at most maxSizePerMsg bytes) to `to` if flow control
   * allows, or a snapshot if the entries it needs are compacted. With `sendIfEmpty` false an
   * append without entries is not sent. Returns whether something was sent.
   */
  protected maybeSendAppend(to: NodeId, sendIfEmpty: boolean, commitNotice = false): boolean {
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
    const m = message({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed });
    if (commitNotice && ents.length === 0 && pr.state === 'replicate') m.commitOnly = true;
    this.send(m);
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
   * bound; e.g. ~11% for electionTimeout 10), and ticks are not paused (a process stalled by GC
   * or SIGSTOP keeps its lease while its clock stands still). A restarted node keeps honouring
   * leases for one election timeout (restartLeaseGuard), provided it restarts within a tick or
   * so; a slower restart is harmless. Violating these assumptions can break linearizability:
   * 'safe' has none of them.
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

  protected override switchToConfig(next: ChangeResult): void {
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
