// Public data types of Shoal's Raft.
//
// These shapes are a contract between the pure consensus core (`core/`), the write-ahead log
// and storage (`storage/`), the binary codec and peer transport (`transport/`), the host loop
// (`host/`) and the simulator (`sim/`). They follow etcd's raftpb closely so that anyone who
// knows etcd's raft recognises them. Stability rule: after the first release of this file,
// fields are only ever ADDED, and only as optional fields.
//
// Numbers: terms, indexes and node ids are JS numbers that must be safe integers (< 2^53).
// A node id is a positive integer; NONE (0) means "no node" (no vote cast, no known leader).

/** A member id, like etcd's uint64 member ids but limited to safe integers. 0 is NONE. */
export type NodeId = number;

/** "No node": used for `HardState.vote` when no vote was cast and for an unknown leader. */
export const NONE: NodeId = 0;

// ---------------------------------------------------------------------------------------------
// Log

export type EntryType = 'normal' | 'confChange';

/** Stable wire codes for `EntryType` (for the binary codec and the WAL). Never renumber. */
export const ENTRY_TYPE_CODES: Readonly<Record<EntryType, number>> = {
  normal: 0,
  confChange: 1,
};

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /**
   * Opaque payload for `normal` entries (empty for the no-op a new leader appends).
   * For `confChange` entries: a ConfChange encoded with `encodeConfChange` (see core/).
   */
  data: Uint8Array;
}

/** What must survive a crash besides the log. Persist before sending `messagesAfterPersist`. */
export interface HardState {
  term: number;
  /** The candidate voted for in `term`, or NONE. */
  vote: NodeId;
  /** Highest index known committed. May be persisted lazily; it is recomputed if lost. */
  commit: number;
}

// ---------------------------------------------------------------------------------------------
// Membership (joint consensus, as etcd's ConfChangeV2; see core/ for the rules)

/**
 * The cluster configuration. Outside a joint configuration `votersOutgoing` and `learnersNext`
 * are empty. During joint consensus decisions need a majority of `voters` AND of
 * `votersOutgoing`. `learnersNext` holds voters being demoted to learners: they stay voters in
 * the outgoing config until the joint config is left.
 */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  votersOutgoing: NodeId[];
  learnersNext: NodeId[];
  /** When true the leader proposes the transition out of the joint config by itself. */
  autoLeave: boolean;
}

export type ConfChangeType = 'addVoter' | 'addLearner' | 'removeNode';

/** Stable wire codes for `ConfChangeType`. Never renumber. */
export const CONF_CHANGE_TYPE_CODES: Readonly<Record<ConfChangeType, number>> = {
  addVoter: 0,
  addLearner: 1,
  removeNode: 2,
};

export interface ConfChangeSingle {
  type: ConfChangeType;
  nodeId: NodeId;
}

/**
 * - `auto`: a change touching at most one voter is applied directly (one server at a time);
 *   anything larger goes through a joint configuration that is left automatically.
 * - `jointImplicit`: always joint, left automatically.
 * - `jointExplicit`: always joint; the application leaves it by proposing an empty ConfChange.
 */
export type ConfChangeTransition = 'auto' | 'jointImplicit' | 'jointExplicit';

export const CONF_CHANGE_TRANSITION_CODES: Readonly<Record<ConfChangeTransition, number>> = {
  auto: 0,
  jointImplicit: 1,
  jointExplicit: 2,
};

/** A membership change. An empty `changes` list means "leave the joint configuration". */
export interface ConfChange {
  transition: ConfChangeTransition;
  changes: ConfChangeSingle[];
  /** Opaque application data (e.g. the new member's address). */
  context?: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Snapshots

export interface SnapshotMeta {
  /** Last log index covered by the snapshot. */
  index: number;
  /** Term of the entry at `index`. */
  term: number;
  /** The configuration in effect at `index`. */
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** Opaque state-machine image. */
  data: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Messages

/**
 * Message kinds. Local kinds (see LOCAL_MESSAGE_TYPES) are never sent on the wire: the host or
 * the core steps them into a node directly.
 *
 * - hup: local; start an election (pre-vote first when enabled).
 * - beat: local; leader broadcasts heartbeats.
 * - checkQuorum: local; leader checks it heard from a quorum within the election timeout.
 * - prop: a proposal (entries). Followers forward it to the leader.
 * - app / appResp: AppendEntries and its reply. A rejection carries `rejectHint` (an index on
 *   the follower at or below the probe index) and `logTerm` (the follower's term at that index)
 *   so the leader can skip a whole divergent term at once.
 * - vote / voteResp, preVote / preVoteResp: RequestVote. `index`/`logTerm` describe the
 *   candidate's last entry. A vote with `context` equal to CAMPAIGN_TRANSFER is part of a
 *   leadership transfer and is not ignored by the leader lease.
 * - snap: InstallSnapshot (the whole snapshot in one message; the transport may stream it).
 * - heartbeat / heartbeatResp: `commit` is min(follower match, leader commit). `context` carries
 *   a ReadIndex request id and `index` the leader's tick count at sending (dates the lease for
 *   lease reads); the follower echoes both back.
 * - unreachable: local; the host reports that sending to `from` failed.
 * - snapStatus: local; the host reports that sending a snapshot to `from` finished
 *   (`reject` = true: it failed).
 * - transferLeader: ask the leader to hand leadership to `from` (the transferee, which need not
 *   be the sender: followers forward the message unchanged but for `to`).
 * - timeoutNow: leader tells the transfer target to campaign at once.
 * - readIndex / readIndexResp: linearizable read request (with `context` as request id) and the
 *   leader's answer carrying the read index in `index`.
 */
export type MessageType =
  | 'hup'
  | 'beat'
  | 'prop'
  | 'app'
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'snap'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'unreachable'
  | 'snapStatus'
  | 'checkQuorum'
  | 'transferLeader'
  | 'timeoutNow'
  | 'readIndex'
  | 'readIndexResp'
  | 'preVote'
  | 'preVoteResp';

/** Stable wire codes for `MessageType` (the same numbering as etcd's raftpb). Never renumber. */
export const MESSAGE_TYPE_CODES: Readonly<Record<MessageType, number>> = {
  hup: 0,
  beat: 1,
  prop: 2,
  app: 3,
  appResp: 4,
  vote: 5,
  voteResp: 6,
  snap: 7,
  heartbeat: 8,
  heartbeatResp: 9,
  unreachable: 10,
  snapStatus: 11,
  checkQuorum: 12,
  transferLeader: 13,
  timeoutNow: 14,
  readIndex: 15,
  readIndexResp: 16,
  preVote: 17,
  preVoteResp: 18,
};

/** Kinds that only ever travel from the host into its own node, never over the network. */
export const LOCAL_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  'hup',
  'beat',
  'unreachable',
  'snapStatus',
  'checkQuorum',
]);

/** `Message.context` of a vote request sent because of a leadership transfer. */
export const CAMPAIGN_TRANSFER: Uint8Array = new TextEncoder().encode('CampaignTransfer');

/**
 * One flat message shape for every kind, like etcd's raftpb.Message, so a binary codec can
 * encode every field unconditionally. Fields a kind does not use are 0 / false / []. Messages,
 * entries and snapshots handed out by the core are shared, not copied: treat them as immutable.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  /** Sender's term; 0 for local messages and for proposals (which are term-less). */
  term: number;
  /** app: term of entry `index`; vote: candidate's last term; appResp reject: term at hint. */
  logTerm: number;
  /** app: index preceding `entries`; vote: candidate's last index; appResp: match or probe. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  snapshot?: Snapshot;
  context?: Uint8Array;
  /**
   * app only: the leader sends no entries, only a new commit index, to a follower it replicates
   * to (a commit notice). A follower that has already acknowledged `index` in this term need
   * not answer it again; one that has not answers as usual. (A lost acknowledgement is
   * recovered by the appends that heartbeat responses trigger, which never carry this flag.)
   */
  commitOnly?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Node state reported to the host

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state, reported when it changes; never persisted. */
export interface SoftState {
  lead: NodeId;
  role: Role;
}

/**
 * A linearizable read is safe to serve once the local state machine has applied `index`.
 * `context` is the request id given to `readIndex`.
 */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

/**
 * Everything the host must do after a batch of ticks/steps/proposals, in this order:
 *
 *  1. Persist `snapshot` (if any), then `entries`, then `hardState` (if any); fsync when
 *     `mustSync`. Then make them visible to the core's storage (MemoryStorage.applySnapshot,
 *     .append, .setHardState).
 *  2. Send `messages`. These may be sent before or during step 1 (a leader replicates while it
 *     writes its own log: thesis 10.2.1).
 *  3. Send `messagesAfterPersist` only after step 1 is durable: they promise durable state
 *     (append/vote responses, a candidate's vote requests).
 *  4. Restore the state machine from `snapshot` (if any), then apply `committedEntries` in order;
 *     for a `confChange` entry call `applyConfChange` on the node. Serve `readStates` once the
 *     applied index reaches their index.
 *  5. Call `advance(ready)`. Do not call `ready()` again before that.
 */
export interface Ready {
  /** Present when the leader or role changed since the last Ready. */
  softState?: SoftState;
  /** Present when term, vote or commit changed since the last Ready. */
  hardState?: HardState;
  /** Entries to append to stable storage (may overwrite a suffix already there). */
  entries: Entry[];
  /** A snapshot to persist and to restore the state machine from. */
  snapshot?: Snapshot;
  /** Entries committed and not yet handed out, to apply in order. */
  committedEntries: Entry[];
  /** Messages that may be sent right away. */
  messages: Message[];
  /** Messages to send only once `snapshot`, `entries` and `hardState` are durable. */
  messagesAfterPersist: Message[];
  readStates: ReadState[];
  /** True when `hardState` (term or vote) or `entries` changed and an fsync is required. */
  mustSync: boolean;
}

// ---------------------------------------------------------------------------------------------
// Storage read by the core

export type StorageErrorCode = 'compacted' | 'unavailable' | 'snapshotTemporarilyUnavailable';

/** Thrown by RaftStorage methods; the core handles these codes, anything else is a bug. */
export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message?: string,
  ) {
    super(message ?? `raft storage: ${code}`);
    this.name = 'StorageError';
  }
}

/**
 * The stable log as the core sees it: synchronous and in memory. The host updates it after it
 * has persisted a Ready (MemoryStorage is the standard implementation).
 */
export interface RaftStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi). Returns at least one entry when lo < hi, then stops before the total
   * data size exceeds `maxBytes`. Throws 'compacted' if lo <= snapshot index, 'unavailable' if
   * hi > lastIndex + 1.
   */
  entries(lo: number, hi: number, maxBytes?: number): Entry[];
  /** Term of entry i; the snapshot's term for i == snapshot index. Throws compacted/unavailable. */
  term(i: number): number;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot. May throw 'snapshotTemporarilyUnavailable' (retried later). */
  snapshot(): Snapshot;
}

// ---------------------------------------------------------------------------------------------
// Configuration

export type ReadOnlyOption = 'safe' | 'leaseBased';

export interface RaftConfig {
  id: NodeId;
  storage: RaftStorage;
  /** Ticks without hearing from a leader before campaigning (randomised in [e, 2e)). */
  electionTick: number;
  /** Ticks between leader heartbeats. Must be < electionTick. */
  heartbeatTick: number;
  /** Uniform in [0, 1); the core's only source of randomness (seed it for simulation). */
  random: () => number;
  /** Last index already applied by the state machine (restart). Default 0. */
  applied?: number;
  /** Soft limit on the entry bytes in one append message. Default 1 MiB; 0 = one entry. */
  maxSizePerMsg?: number;
  /** Max append messages in flight to one follower in replicate state. Default 256. */
  maxInflightMsgs?: number;
  /** Soft limit on the bytes of committed entries in one Ready. Default unlimited. */
  maxCommittedSizePerReady?: number;
  /** Run a pre-vote round before bumping the term. Default false. */
  preVote?: boolean;
  /** Leader steps down without a quorum of recent contact; enables the leader lease. */
  checkQuorum?: boolean;
  /** 'safe' (ReadIndex with a heartbeat round, default) or 'leaseBased' (needs checkQuorum). */
  readOnlyOption?: ReadOnlyOption;
  /** Drop proposals at followers instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean;
}
