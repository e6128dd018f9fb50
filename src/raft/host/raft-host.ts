// The host loop around the pure Raft core (etcd's RawNode pattern): a ticker, the peer
// transport and the disk feed the node; each Ready is handled in the order of its contract
// (types.ts): send `messages` at once (the leader replicates while it writes), persist
// snapshot/entries/hardState as one WAL record (one fdatasync; a crash keeps all of a Ready or none), mirror them into MemoryStorage,
// send `messagesAfterPersist`, restore and apply, serve reads, advance. While a Ready is being
// persisted the node keeps ticking, stepping and taking proposals, so the next Ready carries
// everything that arrived meanwhile: the fsync is shared by all of it.
import {
  MemoryStorage,
  ProposalDroppedError,
  RaftNode,
  bootstrapSnapshot,
  decodeConfChange,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type ProgressStatus,
  type RaftConfig,
  type Ready,
  type Role,
} from '../index.js';
import { DiskStorage, type RecoveredState } from '../storage/index.js';
import { PeerTransport, type PeerAddress, type TransportStats } from '../transport/index.js';
import type { WalRepair, WalStats } from '../../wal/index.js';
import { decodeEnvelope, type Envelope } from './envelope.js';
import { RaftHostClosedError } from './errors.js';
import { PendingRequests } from './requests.js';

/** The replicated application. Called only from the host loop, in log order. */
export interface StateMachine<R = unknown> {
  /** Applies one committed command; the result resolves the proposer's promise. */
  apply(command: Uint8Array, index: number): R;
  /** The state as of the last applied index, for a compaction snapshot. */
  snapshot(): Uint8Array;
  /**
   * Optional, preferred to snapshot() for compaction snapshots: captures the state as of the
   * last applied index cheaply (without encoding it) and returns how to encode that captured
   * state later. The host calls the returned function after more entries were applied, off its
   * Ready loop, so it must not read the live state.
   */
  captureSnapshot?(): () => Promise<Uint8Array>;
  /** Replaces the state with a snapshot image. The bootstrap snapshot's image is empty: the initial state. */
  restore(image: Uint8Array, index: number): void;
  /**
   * A committed membership change was applied (optional). `context` is the application data
   * given to proposeConfChange (undefined for changes the core made, e.g. leaving a joint
   * config); `conf` is the configuration now in force.
   */
  applyConfChange?(cc: ConfChange, context: Uint8Array | undefined, conf: ConfState, index: number): void;
}

export interface RaftHostOptions<R> {
  id: NodeId;
  clusterId: string;
  /** Directory for the WAL and snapshot files. */
  dir: string;
  /** The founding voters (this node included); used only when `dir` is empty. */
  voters: NodeId[];
  /**
   * A member added to a running cluster: an empty `dir` is not bootstrapped (and `voters` is
   * ignored); the log starts empty and the leader's snapshot brings the configuration.
   */
  join?: boolean;
  /**
   * The image of the bootstrap snapshot (index 1) a new cluster starts from; default empty.
   * Every founding member must pass the same bytes: a member that joins before the first
   * compaction is sent this snapshot, so it is how it learns the initial state.
   */
  bootstrapImage?: Uint8Array;
  /** Peer addresses known at start; more with addPeer(). */
  peers?: ReadonlyMap<NodeId, PeerAddress>;
  stateMachine: StateMachine<R>;
  /** Address to listen on for peers. Default 127.0.0.1, port 0 (ephemeral). */
  host?: string;
  port?: number;
  /** Milliseconds per Raft tick. Default 50. */
  tickMs?: number;
  /** Default 10 ticks. */
  electionTick?: number;
  /** Default 1 tick. */
  heartbeatTick?: number;
  /** fdatasync the WAL. Default true. */
  sync?: boolean;
  segmentBytes?: number;
  /** Take a state-machine snapshot every this many applied entries. Default 10000. */
  snapshotEvery?: number;
  /** Entries kept in memory behind a snapshot for followers slightly behind. Default 5000. */
  keepEntries?: number;
  /** A proposal or read not answered in this time is rejected (outcome unknown). Default 10 s. */
  requestTimeoutMs?: number;
  /** Further core settings (preVote and checkQuorum default to true here). */
  raft?: Partial<Omit<RaftConfig, 'id' | 'storage' | 'applied'>>;
  maxQueuedMessages?: number;
  /** Called when this node learns of a new leader or changes role. */
  onLeaderChange?: (status: RaftHostStatus) => void;
  /** The host stopped because of an error it cannot recover from (a failed fsync, a core invariant). */
  onFatal?: (err: Error) => void;
}

/** Bound on proposals and reads held back while the link to the leader is down. */
const MAX_HELD = 10_000;

export interface RaftHostStatus {
  id: NodeId;
  role: Role;
  lead: NodeId;
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
  /** Index of the latest snapshot (the log before it may be compacted). */
  snapshotIndex: number;
  /** First log index still held in memory for followers. */
  firstIndex: number;
  conf: ConfState;
}

export interface RaftHostStats {
  wal: WalStats;
  transport: TransportStats;
  readies: number;
  persists: number;
  snapshots: number;
}

export class RaftHost<R = unknown> {
  private readonly requests: PendingRequests<R>;
  /** Membership changes waiting to be applied; their envelope travels in ConfChange.context. */
  private readonly confRequests: PendingRequests<ConfState>;
  private applied: number;
  private conf: ConfState;
  private snapshotIndex: number;
  /** A commit-only hard state not worth an fsync by itself: written with the next batch. */
  private lazyHardState: HardState | undefined;
  private ticker: NodeJS.Timeout | null = null;
  private kickScheduled = false;
  /** The previous persisted Ready was a sequential client's (see handleReady). */
  private lastPersistSingle = false;
  /** Something arrived while a drain was running: drain again once it ends. */
  private kickAgain = false;
  private draining: Promise<void> | null = null;
  /** A compaction snapshot being encoded and written in the background (see maybeSnapshot). */
  private snapshotting: Promise<void> | null = null;
  private closed = false;
  private failure: Error | null = null;
  private readonly counters = { readies: 0, persists: 0, snapshots: 0 };
  /** Proposals and reads not forwarded because the link to the leader was down (see hold()). */
  private held: ({ until: number; context?: undefined; entry: Entry } | { until: number; context: Uint8Array; entry?: undefined })[] = [];

  private constructor(
    private readonly opts: RaftHostOptions<R>,
    private readonly node: RaftNode,
    private readonly memory: MemoryStorage,
    private readonly disk: DiskStorage,
    private transport: PeerTransport | null,
    /** What recovery found, for the caller's log. */
    readonly recovered: { repaired: WalRepair | null; skippedSnapshots: string[] },
  ) {
    const snap = memory.snapshot();
    this.applied = snap.meta.index;
    this.snapshotIndex = snap.meta.index;
    this.conf = snap.meta.conf;
    this.requests = new PendingRequests(opts.id, opts.requestTimeoutMs ?? 10_000);
    this.confRequests = new PendingRequests(opts.id, opts.requestTimeoutMs ?? 10_000);
  }

  static async start<R>(opts: RaftHostOptions<R>): Promise<RaftHost<R>> {
    if (opts.join !== true && !opts.voters.includes(opts.id)) throw new Error(`raft host: voters ${opts.voters} do not include ${opts.id}`);
    const { storage: disk, state } = await DiskStorage.open({ dir: opts.dir, sync: opts.sync, segmentBytes: opts.segmentBytes });
    let host: RaftHost<R> | undefined;
    try {
      const memory = await RaftHost.loadMemory(disk, state, opts);
      const snap = memory.snapshot();
      if (snap.meta.index > 1 || snap.data.length > 0) opts.stateMachine.restore(snap.data, snap.meta.index);
      const node = new RaftNode({
        electionTick: 10,
        heartbeatTick: 1,
        preVote: true,
        checkQuorum: true,
        random: Math.random,
        ...opts.raft,
        ...(opts.electionTick !== undefined ? { electionTick: opts.electionTick } : {}),
        ...(opts.heartbeatTick !== undefined ? { heartbeatTick: opts.heartbeatTick } : {}),
        id: opts.id,
        storage: memory,
        applied: snap.meta.index,
      });
      host = new RaftHost(opts, node, memory, disk, null, { repaired: state.repaired, skippedSnapshots: state.skippedSnapshots });
      const h = host;
      h.transport = await PeerTransport.listen({
        clusterId: opts.clusterId,
        nodeId: opts.id,
        host: opts.host,
        port: opts.port,
        peers: opts.peers,
        maxQueuedMessages: opts.maxQueuedMessages,
        onMessage: (m) => h.receive(m),
        onUnreachable: (peer) => h.unreachable(peer),
      });
      h.ticker = setInterval(() => h.tick(), opts.tickMs ?? 50);
      return h;
    } catch (err) {
      if (host === undefined) await disk.close();
      else await host.close();
      throw err;
    }
  }

  /** Rebuilds the core's view of the log from disk; a fresh directory is bootstrapped. */
  private static async loadMemory<R>(disk: DiskStorage, state: RecoveredState, opts: RaftHostOptions<R>): Promise<MemoryStorage> {
    const fresh = state.snapshot === null && state.entries.length === 0 && state.hardState.term === 0;
    if (fresh && opts.join === true) return new MemoryStorage();
    if (fresh) {
      const conf: ConfState = { voters: [...opts.voters].sort((a, b) => a - b), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
      const snapshot = { ...bootstrapSnapshot(conf), data: opts.bootstrapImage ?? bootstrapSnapshot(conf).data };
      const memory = new MemoryStorage();
      memory.applySnapshot(snapshot);
      memory.setHardState({ term: 1, vote: 0, commit: 1 });
      await disk.persist({ snapshot, entries: [], hardState: memory.initialState().hardState });
      return memory;
    }
    const memory = new MemoryStorage();
    if (state.snapshot !== null) memory.applySnapshot(state.snapshot);
    memory.append(state.entries);
    memory.setHardState(state.hardState);
    return memory;
  }

  /** The address peers reach this node at. */
  get address(): PeerAddress {
    return this.requireTransport().address;
  }

  addPeer(id: NodeId, address: PeerAddress): void {
    this.requireTransport().addPeer(id, address);
  }

  /**
   * Replicates `command`; resolves once it is committed and applied here, with its log index
   * and what the state machine returned. Rejects with the core's ProposalDroppedError (no leader: retry),
   * ProposalLostError (overwritten by a new leader), ProposalTimeoutError (outcome unknown).
   */
  propose(command: Uint8Array): Promise<{ index: number; result: R }> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new RaftHostClosedError());
    const done = this.requests.propose(command, (data) => {
      const leader = this.node.role === 'leader';
      this.node.propose(data);
      return leader ? this.node.log.lastIndex() : undefined;
    });
    this.kick();
    return done;
  }

  /** Resolves with a read index once this node has applied it: reads after that are linearizable. */
  readIndex(): Promise<{ index: number }> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new RaftHostClosedError());
    const done = this.requests.read((context) => this.node.readIndex(context));
    this.kick();
    return done;
  }

  /** Starts an election at once (tests, leadership hand-over by an operator). */
  campaign(): void {
    this.node.campaign();
    this.kick();
  }

  /**
   * Proposes a membership change; resolves once it is committed and applied here, with the
   * configuration then in force. `cc.context` (application data, e.g. the member's address)
   * reaches every node's StateMachine.applyConfChange. Rejects like propose(); in particular
   * with ProposalDroppedError('confChangePending' | 'invalidConfChange') on the leader.
   */
  proposeConfChange(cc: ConfChange): Promise<{ index: number; result: ConfState }> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new RaftHostClosedError());
    const done = this.confRequests.propose(cc.context ?? new Uint8Array(0), (context) => {
      const leader = this.node.role === 'leader';
      this.node.proposeConfChange({ ...cc, context });
      return leader ? this.node.log.lastIndex() : undefined;
    });
    this.kick();
    return done;
  }

  /** Asks the leader (through this node) to hand leadership to `to`; the outcome shows in status(). */
  transferLeadership(to: NodeId): void {
    this.node.transferLeadership(to);
    this.kick();
  }

  /** Forgets a peer's address (a removed member): messages to it are dropped. */
  removePeer(id: NodeId): void {
    this.requireTransport().removePeer(id);
  }

  /** The leader's view of each member's replication progress; undefined on other roles. */
  progress(): Map<NodeId, ProgressStatus> | undefined {
    return this.node.status().progress;
  }

  status(): RaftHostStatus {
    return {
      id: this.opts.id,
      role: this.node.role,
      lead: this.node.lead,
      term: this.node.term,
      commit: this.node.log.committed,
      applied: this.applied,
      lastIndex: this.node.log.lastIndex(),
      snapshotIndex: this.snapshotIndex,
      firstIndex: this.memory.firstIndex(),
      conf: this.conf,
    };
  }

  /** status() fields read on every request, without building the whole status. */
  get term(): number {
    return this.node.term;
  }

  get lead(): NodeId {
    return this.node.lead;
  }

  get role(): Role {
    return this.node.role;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get commitIndex(): number {
    return this.node.log.committed;
  }

  /** Whether `id` is a learner in the configuration in force. */
  isLearner(id: NodeId): boolean {
    return this.conf.learners.includes(id);
  }

  stats(): RaftHostStats {
    return { wal: this.disk.walStats(), transport: this.requireTransport().stats(), ...this.counters };
  }

  /** Stops ticking and networking, finishes the Ready in progress, closes the WAL. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    await this.transport?.close();
    if (this.draining !== null) await this.draining;
    if (this.snapshotting !== null) await this.snapshotting;
    this.requests.rejectAll(this.failure ?? new RaftHostClosedError());
    this.confRequests.rejectAll(this.failure ?? new RaftHostClosedError());
    await this.disk.close();
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  private tick(): void {
    this.input(() => {
      this.node.tick();
      const now = Date.now();
      this.requests.expire(now);
      this.confRequests.expire(now);
      this.resubmitHeld(now);
    });
  }

  /**
   * A proposal or read this follower would forward while its link to the leader is down would
   * be dropped by the transport, unseen, and its caller would wait for the timeout. It is held
   * instead — it never left this process, so submitting it again cannot duplicate it — and
   * submitted again on the next tick, to whoever leads then, until its request times out.
   * False when the hold is full.
   */
  private hold(m: Message): boolean {
    if (this.held.length >= MAX_HELD) return false;
    const until = Date.now() + (this.opts.requestTimeoutMs ?? 10_000);
    if (m.type === 'readIndex') this.held.push({ until, context: m.context ?? new Uint8Array(0) });
    else for (const entry of m.entries) this.held.push({ until, entry });
    return true;
  }

  private resubmitHeld(now: number): void {
    if (this.held.length === 0) return;
    const held = this.held.filter((h) => h.until > now);
    this.held = [];
    for (const [i, h] of held.entries()) {
      try {
        if (h.context !== undefined) this.node.readIndex(h.context);
        else if (h.entry.type === 'confChange') this.node.proposeConfChange(decodeConfChange(h.entry.data));
        else this.node.propose(h.entry.data);
      } catch (err) {
        // No leader yet: keep the rest for the next tick. Other refusals: the caller times out.
        if (!(err instanceof ProposalDroppedError) || err.reason !== 'noLeader') continue;
        this.held.push(...held.slice(i));
        return;
      }
    }
  }

  private receive(m: Message): void {
    this.input(() => this.node.step(m));
  }

  private unreachable(peer: NodeId): void {
    this.input(() => this.node.reportUnreachable(peer));
  }

  /** Feeds the core; a throw there is a broken invariant, which stops this host. */
  private input(fn: () => void): void {
    if (this.closed) return;
    try {
      fn();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.kick();
  }

  /**
   * Handles Readys at the end of the current operation (a microtask): everything the operation
   * fed in (all messages of one socket read, a proposal) goes in one Ready, and an idle node
   * answers without waiting for another event-loop phase. Under load nothing is lost by not
   * waiting for more: while a Ready is being persisted, inputs accumulate and the drain loop
   * takes them all in its next Ready. A kick while draining only marks that the loop (or, if it
   * is finishing, a new one) must look again.
   */
  private kick(): void {
    if (this.closed) return;
    if (this.draining !== null) {
      // The loop may already have seen no Ready and be finishing: it kicks again when done.
      this.kickAgain = true;
      return;
    }
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    queueMicrotask(this.startDrain);
  }

  private readonly startDrain = (): void => {
    this.kickScheduled = false;
    if (this.closed) return;
    if (this.draining !== null) {
      this.kickAgain = true;
      return;
    }
    // Cleared in a later microtask, never before the assignment (drain may finish at once).
    this.draining = this.drain().finally(() => {
      this.draining = null;
      if (this.kickAgain) {
        this.kickAgain = false;
        this.kick();
      }
    });
  };

  private async drain(): Promise<void> {
    try {
      for (;;) {
        // Inputs before this hasReady() check are covered by it; later ones set kickAgain.
        this.kickAgain = false;
        if (this.closed || !this.node.hasReady()) break;
        await this.handleReady(this.node.ready());
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  // -------------------------------------------------------------------------------------------
  // The Ready contract

  private async handleReady(rd: Ready): Promise<void> {
    this.counters.readies++;
    if (rd.softState !== undefined) this.opts.onLeaderChange?.(this.status());
    // Written at once, before anything below: appends, a forwarded proposal, and the commit
    // notices followers wait for — their clients' answers and their watchers' events. Applying
    // comes after: on a leader with watchers, applying serializes an event per watcher, and the
    // notices used to wait for that (its own client's answer is written at the end of the
    // event-loop turn either way).
    this.send(rd.messages, true);

    // Committed entries this node already holds durably need not wait for this Ready's new
    // entries to be fsynced: applying them first takes an fsync off every commit's latency under
    // load (etcd does the same). Entries not yet durable here — a follower can learn of a commit
    // before persisting the entry — and snapshots keep the persist-then-apply order.
    const stableLast = this.memory.lastIndex();
    const applyEarly = rd.snapshot === undefined && rd.committedEntries.every((e) => e.index <= stableLast);
    if (applyEarly) for (const e of rd.committedEntries) this.apply(e);

    // A received snapshot replaces the log: a local one still being written must not land after it.
    if (rd.snapshot !== undefined && this.snapshotting !== null) await this.snapshotting;
    if (rd.mustSync || rd.snapshot !== undefined) {
      const hardState = rd.hardState ?? this.lazyHardState;
      this.lazyHardState = undefined;
      // At most one entry and one request of ours waiting, twice in a row (a sequential client;
      // with several, one may be alone for a moment): the WAL may write it inline rather than
      // through the thread pool (see src/wal/wal.ts).
      const single = rd.entries.length <= 1 && this.requests.pendingProposals + this.confRequests.pendingProposals <= 1;
      const idle = single && this.lastPersistSingle;
      this.lastPersistSingle = single;
      await this.disk.persist({ snapshot: rd.snapshot, entries: rd.entries, hardState }, { idle });
      this.counters.persists++;
    } else if (rd.hardState !== undefined) {
      this.lazyHardState = rd.hardState;
    }
    if (rd.snapshot !== undefined) this.memory.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) this.memory.append(rd.entries);
    if (rd.hardState !== undefined) this.memory.setHardState(rd.hardState);
    // Acknowledging new entries (or a vote) is on the commit path; acknowledging a commit only
    // is not, and waits until whatever this Ready answers has been answered.
    this.send(rd.messagesAfterPersist, rd.mustSync);

    if (rd.snapshot !== undefined) {
      this.opts.stateMachine.restore(rd.snapshot.data, rd.snapshot.meta.index);
      this.applied = rd.snapshot.meta.index;
      this.snapshotIndex = rd.snapshot.meta.index;
      this.conf = rd.snapshot.meta.conf;
    }
    if (!applyEarly) for (const e of rd.committedEntries) this.apply(e);
    this.requests.readStates(rd.readStates, this.applied);
    this.node.advance(rd);
    this.maybeSnapshot();
  }

  /** `now`: write at once rather than at the end of the current operation (see PeerTransport.send). */
  private send(messages: Message[], now: boolean): void {
    if (messages.length === 0 || this.transport === null) return;
    const transport = this.transport;
    const forwarded = (m: Message): boolean => m.type === 'prop' || m.type === 'readIndex';
    if (messages.some((m) => forwarded(m) && !transport.isConnected(m.to))) {
      messages = messages.filter((m) => !forwarded(m) || transport.isConnected(m.to) || !this.hold(m));
    }
    transport.send(messages, now);
    for (const m of messages) {
      // The whole snapshot travels in one frame: queued on a live connection counts as sent.
      if (m.type === 'snap') this.node.reportSnapshot(m.to, this.transport.isConnected(m.to));
    }
  }

  private apply(e: Entry): void {
    if (e.index !== this.applied + 1) throw new Error(`raft host: applying ${e.index} after ${this.applied}`);
    this.applied = e.index;
    if (e.type === 'confChange') {
      const cc = decodeConfChange(e.data);
      this.conf = this.node.applyConfChange(cc);
      // Changes made through proposeConfChange carry an envelope; the core's own do not.
      const env: Envelope | null = cc.context !== undefined && cc.context.length > 0 ? decodeEnvelope(cc.context) : null;
      this.opts.stateMachine.applyConfChange?.({ ...cc, context: env?.command }, env?.command, this.conf, e.index);
      this.requests.applied(e.index, null, undefined);
      this.confRequests.applied(e.index, env, this.conf);
    } else if (e.data.length === 0) {
      this.requests.applied(e.index, null, undefined); // a new leader's no-op
      this.confRequests.applied(e.index, null, undefined);
    } else {
      const env = decodeEnvelope(e.data);
      this.requests.applied(e.index, env, this.opts.stateMachine.apply(env.command, e.index));
      this.confRequests.applied(e.index, null, undefined);
    }
  }

  /**
   * Every `snapshotEvery` applied entries: a compaction snapshot, kept off the Ready loop. The
   * state is captured here, between two applies, so it is exactly the state at `applied`; it is
   * encoded, written (file, fsync, rename) and marked in the WAL in the background while the
   * loop keeps persisting, replicating and applying. Until the snapshot is durable no WAL
   * segment is released, so a crash meanwhile recovers from the previous snapshot and the log.
   */
  private maybeSnapshot(): void {
    const every = this.opts.snapshotEvery ?? 10_000;
    if (this.snapshotting !== null || this.applied - this.snapshotIndex < every) return;
    const sm = this.opts.stateMachine;
    const index = this.applied;
    const conf = this.conf;
    const encode = sm.captureSnapshot !== undefined ? sm.captureSnapshot() : ((image) => () => Promise.resolve(image))(sm.snapshot());
    const saving = this.saveSnapshot(index, conf, encode)
      .catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        if (this.snapshotting === saving) this.snapshotting = null;
      });
    this.snapshotting = saving;
  }

  private async saveSnapshot(index: number, conf: ConfState, encode: () => Promise<Uint8Array>): Promise<void> {
    const data = await encode();
    // A snapshot received meanwhile (the drain waits for this one before persisting a received
    // one, but it may have been applied before we started) already covers `index`.
    if (this.closed || this.memory.snapshot().meta.index >= index) return;
    // The in-memory log may shrink at once: it only serves followers, and a lagging one gets
    // this snapshot. What a restart needs, the WAL, is released only once the file is durable.
    const snap = this.memory.createSnapshot(index, conf, data);
    this.snapshotIndex = Math.max(this.snapshotIndex, index);
    const upTo = index - (this.opts.keepEntries ?? 5_000);
    if (upTo >= this.memory.firstIndex()) this.memory.compact(upTo);
    await this.disk.saveSnapshot(snap);
    this.counters.snapshots++;
  }

  // -------------------------------------------------------------------------------------------
  // Failure and timeouts

  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.requests.rejectAll(err);
    this.confRequests.rejectAll(err);
    this.opts.onFatal?.(err);
    void this.close();
  }

  private requireTransport(): PeerTransport {
    if (this.transport === null) throw new Error('raft host: not started');
    return this.transport;
  }
}
