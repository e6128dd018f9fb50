// The CommandLog of a replicated coordinator: commands go through Raft (RaftHost), which forwards
// a follower's proposals to the leader and answers once the entry is applied here. Linearizable
// reads wait for a ReadIndex. The log also carries the membership (Raft conf changes with the
// member in their context, member-attribute commands), and its snapshots carry both the
// membership and the key space, so a new or lagging member catches up from one snapshot.
//
// Outcomes: a proposal refused before it entered the log (no leader yet, a transfer going on)
// is retried until a bounded deadline; once it may be in the log, the only errors are
// UNAVAILABLE ones (leader changed, request timed out) that leave its outcome unknown, never a
// definite wrong answer.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ProposalDroppedError, type ConfChange, type ConfState, type NodeId } from '../../raft/index.js';
import { ProposalLostError, ProposalTimeoutError, RaftHost, RaftHostClosedError, type RaftHostStatus } from '../../raft/host/index.js';
import type { PeerAddress } from '../../raft/transport/index.js';
import { CoordError, type Command, type CommandResult } from '../types.js';
import { ClusterState, decodeMemberChange, encodeMemberChange, type ClusterCommand, type MemberRecord } from './cluster-state.js';
import type { CommandLog, Membership } from './command-log.js';
import { memberIdOf, type MemberIdentity } from './member.js';
import { decodeEntry, decodeImage, encodeClusterEntry, encodeCommandEntry, encodeImage } from './raft-entry.js';
import { driveSteps } from './drive-steps.js';
import { ErrStopped } from './single-node-log.js';

export const ErrRemoved = (): CoordError =>
  new CoordError('UNAVAILABLE', 'etcdserver: the member has been permanently removed from the cluster');
const ErrNoLeader = (): CoordError => new CoordError('UNAVAILABLE', 'etcdserver: no leader');
const ErrLeaderChanged = (): CoordError => new CoordError('UNAVAILABLE', 'etcdserver: leader changed');
const ErrTimeout = (): CoordError => new CoordError('UNAVAILABLE', 'etcdserver: request timed out');
/** A read abandoned because leadership moved: it is asked again. */
const LEADER_MOVED = Symbol('leader moved');
const ErrLeaderFail = (): CoordError =>
  new CoordError('UNAVAILABLE', 'etcdserver: request timed out, possibly due to previous leader failure');
const ErrMemberNotFound = (): CoordError => new CoordError('NOT_FOUND', 'etcdserver: member not found');

/** What the log drives in the node that owns the key space. */
export interface ReplicaHooks {
  /** Applies a committed command; throws CoordError as its deterministic result. */
  apply(cmd: Command, index: number): CommandResult;
  /** The key space's snapshot as of the last applied command. */
  snapshot(): Buffer;
  /** The same, captured now and encoded as the generator is driven (optional: else snapshot()). */
  snapshotSteps?(): Generator<void, Buffer, void>;
  /** Replaces the key space with a snapshot's. */
  restore(keySpace: Buffer): void;
  /** This member became (true) or stopped being (false) the leader. */
  onLeadership(isLeader: boolean): void;
  /** This member applied its own removal. */
  onRemoved(): void;
  onFatal(err: Error): void;
}

export interface RaftLogOptions {
  memberDir: string;
  identity: MemberIdentity;
  clusterToken: string;
  /** Joining a running cluster (--initial-cluster-state existing with an empty data dir). */
  join: boolean;
  /** Members named by --initial-cluster, as a starting point for dialing (the log's list wins). */
  initialPeers: { id: number; name: string; peerUrls: string[] }[];
  /** Where to dial a named member instead of its advertised peer URL (--peer-dial). */
  peerDial: ReadonlyMap<string, PeerAddress>;
  listen: PeerAddress;
  sync: boolean;
  tickMs: number;
  electionTicks: number;
  snapshotCount: number;
  catchupEntries: number;
  log: Logger;
  hooks: ReplicaHooks;
}

type Outcome = { ok: CommandResult } | { err: CoordError } | { cluster: true };

export class RaftCommandLog implements CommandLog, Membership {
  private hostRef: RaftHost<Outcome> | undefined;
  private cluster: ClusterState;
  private leader = false;
  private removedFlag = false;
  private closed = false;
  private readonly self: NodeId;
  private readonly dialed = new Map<NodeId, string>();
  private changeWaiters: (() => void)[] = [];
  private readonly leaderWatchers = new Set<() => void>();
  private published: { name: string; clientUrls: string[] } | null = null;
  private publishTimer: NodeJS.Timeout | null = null;
  private readonly retryMs: number;

  private constructor(private readonly o: RaftLogOptions) {
    this.self = o.identity.memberId;
    const founders = o.identity.founders ?? [];
    this.cluster = ClusterState.founding(o.identity.clusterId, founders);
    this.retryMs = 5_000 + 2 * o.tickMs * o.electionTicks;
  }

  static async start(o: RaftLogOptions): Promise<RaftCommandLog> {
    const log = new RaftCommandLog(o);
    const founders = o.identity.founders ?? [];
    // Every founder computes the same bootstrap image: the founding members and an empty key space.
    const bootstrapImage = encodeImage(log.cluster.encode(), o.hooks.snapshot());
    log.hostRef = await RaftHost.start<Outcome>({
      id: log.self,
      clusterId: `shoal-coord/${o.clusterToken}`,
      dir: join(o.memberDir, 'raft'),
      voters: founders.map((f) => f.id),
      join: o.join,
      bootstrapImage,
      host: o.listen.host,
      port: o.listen.port,
      tickMs: o.tickMs,
      electionTick: o.electionTicks,
      heartbeatTick: 1,
      sync: o.sync,
      snapshotEvery: o.snapshotCount,
      keepEntries: o.catchupEntries,
      requestTimeoutMs: log.retryMs,
      stateMachine: {
        apply: (data, index) => log.applyEntry(data, index),
        snapshot: () => encodeImage(log.cluster.encode(), o.hooks.snapshot()),
        captureSnapshot: () => {
          // Both parts as of now; the key space is encoded over several event-loop turns.
          const cluster = log.cluster.encode();
          const steps = o.hooks.snapshotSteps?.();
          if (steps === undefined) {
            const image = encodeImage(cluster, o.hooks.snapshot());
            return () => Promise.resolve(image);
          }
          return () => driveSteps(steps).then((keySpace) => encodeImage(cluster, keySpace));
        },
        restore: (image, index) => log.restore(image, index),
        applyConfChange: (cc, context, conf) => log.applyConfChange(cc, context, conf),
      },
      onLeaderChange: (status) => log.leaderChanged(status),
      onFatal: (err) => o.hooks.onFatal(err),
    });
    log.syncPeers();
    return log;
  }

  private get host(): RaftHost<Outcome> {
    if (this.hostRef === undefined) throw new Error('coord: the Raft host is not started');
    return this.hostRef;
  }

  // ---------------------------------------------------------------- CommandLog

  get appliedIndex(): number {
    return this.host.appliedIndex;
  }

  get committedIndex(): number {
    return this.host.commitIndex;
  }

  get term(): number {
    return this.host.term;
  }

  get leaderId(): number {
    return this.host.lead;
  }

  get isLeader(): boolean {
    return this.leader;
  }

  get isLearner(): boolean {
    return this.host.isLearner(this.self);
  }

  get membership(): Membership {
    return this;
  }

  get clusterId(): number {
    return this.cluster.clusterId;
  }

  get removed(): boolean {
    return this.removedFlag;
  }

  async propose(cmd: Command): Promise<CommandResult> {
    const data = encodeCommandEntry(cmd);
    const { result } = await this.submit(() => this.untilLeaderChange(this.host.propose(data)));
    if ('err' in result) throw result.err;
    if (!('ok' in result)) throw new Error('coord: a command entry applied as a cluster command');
    return result.ok;
  }

  readBarrier(): Promise<void> {
    return this.linearizableRead();
  }

  stats(): object {
    return this.host.stats();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.publishTimer !== null) clearTimeout(this.publishTimer);
    this.wake();
    await this.host.close();
  }

  /** Peer-transport address and Raft status, for logs and tests. */
  status(): RaftHostStatus {
    return this.host.status();
  }

  get peerAddress(): PeerAddress {
    return this.host.address;
  }

  // ---------------------------------------------------------------- Membership

  members(): MemberRecord[] {
    return this.cluster.list();
  }

  async add(peerUrls: string[], isLearner: boolean): Promise<{ member: MemberRecord; members: MemberRecord[] }> {
    for (const url of peerUrls) {
      if (this.cluster.byPeerUrl(url) !== undefined) throw new CoordError('FAILED_PRECONDITION', 'etcdserver: Peer URLs already exists');
    }
    const id = memberIdOf(peerUrls, this.o.clusterToken);
    if (this.cluster.isRemoved(id)) throw new CoordError('FAILED_PRECONDITION', 'etcdserver: ID removed');
    if (this.cluster.get(id) !== undefined) throw new CoordError('FAILED_PRECONDITION', 'etcdserver: member ID already exist');
    await this.changeConf({
      transition: 'auto',
      changes: [{ type: isLearner ? 'addLearner' : 'addVoter', nodeId: id }],
      context: encodeMemberChange({ id, peerUrls: [...peerUrls].sort() }),
    });
    const member = this.cluster.get(id);
    if (member === undefined) throw ErrLeaderChanged();
    return { member: { ...member }, members: this.members() };
  }

  async remove(id: number): Promise<MemberRecord[]> {
    if (this.cluster.get(id) === undefined) throw ErrMemberNotFound();
    await this.changeConf({ transition: 'auto', changes: [{ type: 'removeNode', nodeId: id }], context: encodeMemberChange({ id }) });
    return this.members();
  }

  async promote(id: number): Promise<MemberRecord[]> {
    const m = this.cluster.get(id);
    if (m === undefined) throw ErrMemberNotFound();
    if (!m.isLearner) throw new CoordError('FAILED_PRECONDITION', 'etcdserver: can only promote a learner member');
    // etcd's isLearnerReady: the learner holds at least 90% of the leader's log. Checked where the
    // progress is known (the leader); a follower lets the leader's conf change go through as is.
    const progress = this.host.progress();
    if (progress !== undefined) {
      const learner = progress.get(id);
      const own = progress.get(this.self);
      if (learner === undefined || own === undefined || learner.match < own.match * 0.9) {
        throw new CoordError('FAILED_PRECONDITION', 'etcdserver: can only promote a learner member which is in sync with leader');
      }
    }
    await this.changeConf({ transition: 'auto', changes: [{ type: 'addVoter', nodeId: id }], context: encodeMemberChange({ id }) });
    return this.members();
  }

  async updatePeerUrls(id: number, peerUrls: string[]): Promise<MemberRecord[]> {
    if (this.cluster.get(id) === undefined) throw ErrMemberNotFound();
    for (const url of peerUrls) {
      const owner = this.cluster.byPeerUrl(url);
      if (owner !== undefined && owner.id !== id) throw new CoordError('FAILED_PRECONDITION', 'etcdserver: Peer URLs already exists');
    }
    await this.proposeCluster({ type: 'peerUrls', id, peerUrls: [...peerUrls].sort() });
    return this.members();
  }

  /** Publishes this member's attributes through the log, retrying until they are applied. */
  publish(name: string, clientUrls: string[]): void {
    this.published = { name, clientUrls: [...clientUrls] };
    this.republish();
  }

  async moveLeader(to: number): Promise<void> {
    const status = this.host.status();
    if (status.role !== 'leader') throw new CoordError('FAILED_PRECONDITION', 'etcdserver: not leader');
    if (!status.conf.voters.includes(to) || to === this.self) {
      throw new CoordError('FAILED_PRECONDITION', 'etcdserver: bad leader transferee');
    }
    this.host.transferLeadership(to);
    const deadline = Date.now() + 2 * this.o.tickMs * this.o.electionTicks + 1000;
    while (this.host.status().lead !== to) {
      if (Date.now() >= deadline || this.closed) throw new CoordError('UNAVAILABLE', 'etcdserver: leadership transfer timed out');
      await this.nextChange(deadline - Date.now());
    }
  }

  // ---------------------------------------------------------------- requests through Raft

  private async proposeCluster(cmd: ClusterCommand): Promise<void> {
    const data = encodeClusterEntry(cmd);
    await this.submit(() => this.untilLeaderChange(this.host.propose(data)));
  }

  /**
   * A proposal a follower forwarded is lost with its leader, or not: once the leader changes
   * its outcome is unknown, and waiting for the request timeout helps no one. It fails then
   * with etcd's "possibly due to previous leader failure" (the client may retry). A leader's own
   * proposal is settled by the host (applied, or overwritten: lost).
   */
  private untilLeaderChange<T>(proposal: Promise<T>): Promise<T> {
    return this.watchLeader(proposal, false, ErrLeaderFail);
  }

  /**
   * `request`, or the error `onChange()` if the leader this member knew when it was made
   * changes first (with `evenOnLeader`, also when this member was the leader and stops being it).
   */
  private watchLeader<T>(request: Promise<T>, evenOnLeader: boolean, onChange: () => unknown): Promise<T> {
    const at = { lead: this.host.lead, role: this.host.role };
    if ((at.role === 'leader' && !evenOnLeader) || at.lead === 0) return request;
    return new Promise<T>((resolve, reject) => {
      const watch = (): void => {
        if (this.host.lead === at.lead && this.host.role === at.role) return;
        this.leaderWatchers.delete(watch);
        reject(onChange());
      };
      this.leaderWatchers.add(watch);
      request.then(
        (v) => {
          this.leaderWatchers.delete(watch);
          resolve(v);
        },
        (err: unknown) => {
          this.leaderWatchers.delete(watch);
          reject(err as Error);
        },
      );
    });
  }

  private async changeConf(cc: ConfChange): Promise<ConfState> {
    const { result } = await this.submit(() => this.host.proposeConfChange(cc));
    return result;
  }

  /**
   * Runs `attempt` until it is taken: a refusal before the entry reached a log (no leader, a
   * transfer or a membership change in progress) is retried once something changes, until
   * the deadline. Other failures are final and mapped to etcd's errors.
   */
  private async submit<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.retryMs;
    for (;;) {
      if (this.removedFlag) throw ErrRemoved();
      if (this.closed) throw ErrStopped();
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof ProposalDroppedError)) throw this.mapError(err);
        if (err.reason === 'removed') throw ErrRemoved();
        if (err.reason === 'invalidConfChange') throw new CoordError('FAILED_PRECONDITION', 'shoal: invalid membership change');
        const left = deadline - Date.now();
        if (left <= 0) throw err.reason === 'noLeader' ? ErrNoLeader() : ErrLeaderChanged();
        // A pending conf change clears when it applies, not on a leader change: poll for it.
        await this.nextChange(Math.min(left, err.reason === 'confChangePending' ? 50 : 200));
      }
    }
  }

  /**
   * A ReadIndex round, repeated when leadership changes while it waits (the leader it asked may
   * be gone and never answer), bounded by the request deadline.
   */
  private async linearizableRead(): Promise<void> {
    const deadline = Date.now() + this.retryMs;
    for (;;) {
      const read = this.submit(() => this.host.readIndex());
      try {
        await this.watchLeader(read, true, () => LEADER_MOVED);
        return;
      } catch (err) {
        if (err !== LEADER_MOVED) throw err;
        // The abandoned read settles later or at its timeout: nobody waits for it.
        read.catch(() => {});
        if (Date.now() >= deadline) throw ErrTimeout();
      }
    }
  }

  private mapError(err: unknown): unknown {
    if (err instanceof CoordError) return err;
    if (err instanceof ProposalLostError) return ErrLeaderChanged();
    if (err instanceof ProposalTimeoutError) return ErrTimeout();
    if (err instanceof RaftHostClosedError) return this.removedFlag ? ErrRemoved() : ErrStopped();
    return err;
  }

  /** Resolves at the next leadership or membership change, or after `ms`. */
  private nextChange(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      this.changeWaiters.push(done);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  private wake(): void {
    const waiters = this.changeWaiters;
    this.changeWaiters = [];
    for (const w of waiters) w();
  }

  // ---------------------------------------------------------------- the replicated state machine

  private applyEntry(data: Uint8Array, index: number): Outcome {
    const payload = decodeEntry(data);
    if (payload.kind === 'cluster') {
      this.cluster.apply(payload.cmd);
      this.syncPeers();
      return { cluster: true };
    }
    try {
      return { ok: this.o.hooks.apply(payload.cmd, index) };
    } catch (err) {
      // Deterministic: the command fails the same way on every member. Anything else is a bug.
      if (err instanceof CoordError) return { err };
      throw err;
    }
  }

  private restore(image: Uint8Array, index: number): void {
    // Before the host is up the snapshot comes from this member's disk; later, from the leader.
    this.o.log.info({ index, bytes: image.length, from: this.hostRef === undefined ? 'disk' : 'leader' }, 'coord: restored a snapshot');
    const { cluster, keySpace } = decodeImage(image);
    this.cluster = ClusterState.decode(cluster);
    this.o.hooks.restore(keySpace);
    this.syncPeers();
    this.checkRemoved();
  }

  private applyConfChange(cc: ConfChange, context: Uint8Array | undefined, conf: ConfState): void {
    this.cluster.applyConfChange(cc, decodeMemberChange(context), conf);
    this.syncPeers();
    this.checkRemoved();
    this.wake();
  }

  private checkRemoved(): void {
    if (this.removedFlag || !this.cluster.isRemoved(this.self)) return;
    this.removedFlag = true;
    this.o.log.warn({ member: this.self.toString(16) }, 'coord: this member has been removed from the cluster; it stops serving');
    this.o.hooks.onRemoved();
    this.wake();
    // Not from inside the host's apply loop.
    setImmediate(() => void this.hostRef?.close());
  }

  private leaderChanged(status: RaftHostStatus): void {
    const leader = status.role === 'leader';
    if (leader !== this.leader) {
      this.leader = leader;
      this.o.log.info({ term: status.term, leader: status.lead.toString(16) }, leader ? 'coord: became leader' : 'coord: lost leadership');
      this.o.hooks.onLeadership(leader);
    }
    for (const watch of [...this.leaderWatchers]) watch();
    this.wake();
  }

  /** Dials every member at its advertised peer URL, or where --peer-dial says. */
  private syncPeers(): void {
    const want = new Map<NodeId, { name: string; url: string | undefined }>();
    for (const p of this.o.initialPeers) want.set(p.id, { name: p.name, url: p.peerUrls[0] });
    for (const m of this.cluster.list()) want.set(m.id, { name: m.name || (want.get(m.id)?.name ?? ''), url: m.peerUrls[0] });
    for (const [id, { name, url }] of want) {
      if (id === this.self) continue;
      if (this.cluster.isRemoved(id)) {
        if (this.dialed.delete(id)) this.hostRef?.removePeer(id);
        continue;
      }
      const addr = this.o.peerDial.get(name) ?? (url === undefined ? undefined : peerAddress(url));
      if (addr === undefined) continue;
      const key = `${addr.host}:${addr.port}`;
      if (this.dialed.get(id) === key || this.hostRef === undefined) continue;
      this.dialed.set(id, key);
      this.hostRef.addPeer(id, addr);
    }
  }

  private republish(): void {
    if (this.publishTimer !== null) clearTimeout(this.publishTimer);
    this.publishTimer = null;
    const want = this.published;
    if (want === null || this.closed || this.removedFlag) return;
    const me = this.cluster.get(this.self);
    if (me !== undefined && me.name === want.name && me.clientUrls.join(',') === want.clientUrls.join(',')) return;
    this.proposeCluster({ type: 'attrs', id: this.self, name: want.name, clientUrls: want.clientUrls })
      .catch((err: unknown) => this.o.log.debug({ err }, 'coord: publishing member attributes failed; retrying'))
      .finally(() => {
        if (this.closed) return;
        this.publishTimer = setTimeout(() => this.republish(), 1000);
        this.publishTimer.unref();
      });
  }
}

function peerAddress(url: string): PeerAddress {
  const u = new URL(url);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: Number(u.port) };
}
