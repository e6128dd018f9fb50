import { NONE, type Entry, type Message, type NodeId, type Snapshot } from '../types.js';
import { invariant } from './assert.js';
import type { ChangeResult } from './confchange.js';
import type { DropReason } from './errors.js';
import { message } from './message.js';
import type { Progress } from './progress.js';
import { RaftBase } from './raft-base.js';
import { confStateToMembership } from './tracker.js';

const EMPTY = new Uint8Array(0);

/** The follower's and the (pre-)candidate's rules; see RaftBase for the layering. */
export abstract class RaftFollower extends RaftBase {
  /**
   * The highest index this node has acknowledged (or queued an acknowledgement for) to the
   * leader of `ackedTerm`: a commit notice up to it needs no answer (Message.commitOnly).
   */
  private ackedTerm = 0;
  private ackedIndex = 0;

  // -------------------------------------------------------------------------------------------
  // Follower

  protected override stepFollower(m: Message): DropReason | undefined {
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
      this.acknowledge(m.from, this.log.committed);
      return;
    }
    const lastNew = this.acceptEntries(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      // A commit notice tells the leader nothing new once this index is acknowledged: at low
      // load that saves an answer (a write here, a wake-up there) per commit.
      if (m.commitOnly === true && m.entries.length === 0 && this.ackedTerm === this.term && lastNew <= this.ackedIndex) return;
      this.acknowledge(m.from, lastNew);
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

  private acknowledge(to: NodeId, index: number): void {
    if (this.ackedTerm !== this.term) {
      this.ackedTerm = this.term;
      this.ackedIndex = 0;
    }
    this.ackedIndex = Math.max(this.ackedIndex, index);
    this.send(message({ type: 'appResp', to, index }));
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

  protected override stepCandidate(m: Message): DropReason | undefined {
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

  protected abstract bcastAppend(): void;
  protected abstract switchToConfig(next: ChangeResult): void;
}
