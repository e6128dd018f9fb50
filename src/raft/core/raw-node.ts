import {
  LOCAL_MESSAGE_TYPES,
  type ConfChange,
  type ConfState,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type Ready,
  type Role,
  type SoftState,
} from '../types.js';
import { invariant } from './assert.js';
import { computeConfChange, encodeConfChange } from './confchange.js';
import { ProposalDroppedError } from './errors.js';
import type { ProgressState } from './progress.js';
import { message } from './message.js';
import { Raft } from './raft.js';

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  isLearner: boolean;
  recentActive: boolean;
  inflight: number;
}

export interface NodeStatus {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  role: Role;
  lastIndex: number;
  leadTransferee: NodeId;
  config: ConfState;
  /** Only on the leader. */
  progress?: Map<NodeId, ProgressStatus>;
}

/**
 * The host's handle on one Raft node (etcd's RawNode): feed it ticks, messages and requests,
 * then drain its output with ready() / advance(). Single-threaded and synchronous.
 *
 * The host loop, in order (also documented on `Ready`):
 *   1. rd = node.ready() (when node.hasReady())
 *   2. persist rd.snapshot, rd.entries, rd.hardState (fsync if rd.mustSync), then mirror them
 *      into the MemoryStorage the node reads (applySnapshot, append, setHardState)
 *   3. send rd.messages (allowed before or during 2) and, after 2 is durable, rd.messagesAfterPersist
 *   4. restore rd.snapshot into the state machine; apply rd.committedEntries in order, calling
 *      node.applyConfChange(decodeConfChange(e.data)) for confChange entries; serve rd.readStates
 *      once applied >= their index
 *   5. node.advance(rd)
 * Between ready() and advance() the host may still call step/tick/propose; their effects come
 * out in the next Ready.
 */
export class RaftNode extends Raft {
  private prevSoftState: SoftState;
  private prevHardState: HardState;
  private outstanding: Ready | undefined;

  constructor(config: RaftConfig) {
    super(config);
    this.prevSoftState = this.softState();
    this.prevHardState = this.hardState();
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /** Advances logical time by one tick (election and heartbeat timers count ticks). */
  tick(): void {
    this.tickOnce();
  }

  /** Starts an election now (pre-vote first if enabled). */
  campaign(): void {
    this.stepMessage(message({ type: 'hup', from: this.id }));
  }

  /** Proposes an application command. Throws ProposalDroppedError if it cannot be accepted. */
  propose(data: Uint8Array): void {
    this.stepLocal(message({ type: 'prop', from: this.id, entries: [{ term: 0, index: 0, type: 'normal', data }] }));
  }

  /**
   * Proposes a membership change. One change with transition 'auto' is applied as a single
   * server change; more changes (or a joint transition) go through joint consensus. Only one
   * change may be pending at a time.
   */
  proposeConfChange(cc: ConfChange): void {
    const data = encodeConfChange(cc);
    this.stepLocal(
      message({ type: 'prop', from: this.id, entries: [{ term: 0, index: 0, type: 'confChange', data }] }),
    );
  }

  /**
   * Requests a linearizable read. The answer arrives as a ReadState with the same context in a
   * later Ready (possibly never, e.g. if leadership changes: retry on a timeout).
   */
  readIndex(context: Uint8Array): void {
    this.stepLocal(message({ type: 'readIndex', from: this.id, context }));
  }

  /** Asks the leader to hand leadership to `to` (aborted if not done within an election timeout). */
  transferLeadership(to: NodeId): void {
    this.stepLocal(message({ type: 'transferLeader', from: to }));
  }

  /** The transport could not deliver to `id`; the leader stops pipelining to it. */
  reportUnreachable(id: NodeId): void {
    this.stepMessage(message({ type: 'unreachable', from: id }));
  }

  /** The outcome of sending a snapshot to `id` (ok = false if it failed). */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.stepMessage(message({ type: 'snapStatus', from: id, reject: !ok }));
  }

  /** Delivers a message from a peer. Local kinds must go through the methods above. */
  step(m: Message): void {
    if (LOCAL_MESSAGE_TYPES.has(m.type)) throw new Error(`raft: step() got local message ${m.type}`);
    invariant(m.to === this.id, () => `message for ${m.to} stepped into ${this.id}`);
    this.stepMessage(m);
  }

  private stepLocal(m: Message): void {
    const dropped = this.stepMessage(m);
    if (dropped !== undefined) throw new ProposalDroppedError(dropped);
  }

  /**
   * Applies a committed confChange entry; call it from the apply step, in log order, on every
   * node. Returns the configuration now in force (store it with snapshots).
   */
  applyConfChange(cc: ConfChange): ConfState {
    const next = computeConfChange(this.tracker.config, this.tracker.progress, cc, (isLearner) => {
      const p = this.tracker.newProgress(this.log.lastIndex() + 1, isLearner);
      // A new member counts as active so the leader neither steps down nor withholds a snapshot.
      p.recentActive = true;
      return p;
    });
    this.switchToConfig(next);
    return this.tracker.confState();
  }

  // -------------------------------------------------------------------------------------------
  // Outputs

  private softStateChanged(): boolean {
    return this.lead !== this.prevSoftState.lead || this.role !== this.prevSoftState.role;
  }

  private hardStateChanged(): boolean {
    const hs = this.prevHardState;
    return hs.term !== this.term || hs.vote !== this.vote || hs.commit !== this.log.committed;
  }

  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    return (
      this.softStateChanged() ||
      this.hardStateChanged() ||
      this.log.unstable.snapshot !== undefined ||
      this.log.unstable.entries.length > 0 ||
      this.msgs.length > 0 ||
      this.msgsAfterPersist.length > 0 ||
      this.log.hasNextCommittedEntries() ||
      this.readStates.length > 0
    );
  }

  ready(): Ready {
    invariant(this.outstanding === undefined, 'ready() called again before advance()');
    const hs = this.hardState();
    const rd: Ready = {
      entries: this.log.unstable.entries.slice(),
      committedEntries: this.log.nextCommittedEntries(),
      messages: this.msgs,
      messagesAfterPersist: this.msgsAfterPersist,
      readStates: this.readStates,
      mustSync: hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote,
    };
    if (this.softStateChanged()) {
      rd.softState = this.softState();
      this.prevSoftState = rd.softState;
    }
    if (this.hardStateChanged()) {
      rd.hardState = hs;
      this.prevHardState = hs;
    }
    const snap = this.log.unstable.snapshot;
    if (snap !== undefined) rd.snapshot = snap;
    rd.mustSync = rd.mustSync || rd.entries.length > 0 || snap !== undefined;
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.readStates = [];
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) this.log.acceptApplying(lastCommitted.index);
    this.outstanding = rd;
    return rd;
  }

  /** The host finished with `rd`: it is persisted, sent and applied. */
  advance(rd: Ready): void {
    invariant(this.outstanding === rd, 'advance() with a Ready that is not the outstanding one');
    this.outstanding = undefined;
    if (rd.snapshot !== undefined) {
      this.log.unstable.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > this.log.applied) this.log.appliedTo(rd.snapshot.meta.index);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) this.log.unstable.stableTo(lastEntry.index, lastEntry.term);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted !== undefined) this.log.appliedTo(lastCommitted.index);

    if (this.role !== 'leader') return;
    // Our own entries now count toward commit (thesis 10.2.1: leader writes in parallel).
    const self = this.tracker.progress.get(this.id);
    if (self !== undefined && self.maybeUpdate(this.log.persistedLastIndex()) && this.maybeCommit()) {
      this.onCommitAdvanced();
      this.bcastCommit();
    }
    this.maybeAutoLeaveJoint();
  }

  private maybeAutoLeaveJoint(): void {
    if (!this.tracker.config.autoLeave || this.log.applied < this.pendingConfIndex) return;
    // The joint config is applied here; propose leaving it. If refused now (e.g. during a
    // transfer), the next advance tries again.
    const data = encodeConfChange({ transition: 'auto', changes: [] });
    this.stepMessage(
      message({ type: 'prop', from: this.id, entries: [{ term: 0, index: 0, type: 'confChange', data }] }),
    );
  }

  status(): NodeStatus {
    const s: NodeStatus = {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.log.applied,
      lead: this.lead,
      role: this.role,
      lastIndex: this.log.lastIndex(),
      leadTransferee: this.leadTransferee,
      config: this.tracker.confState(),
    };
    if (this.role === 'leader') {
      s.progress = new Map();
      for (const [id, p] of this.tracker.progress) {
        s.progress.set(id, {
          match: p.match,
          next: p.next,
          state: p.state,
          isLearner: p.isLearner,
          recentActive: p.recentActive,
          inflight: p.inflights.count,
        });
      }
    }
    return s;
  }
}

