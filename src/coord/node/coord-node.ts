// One coordinator member: the key space (Replica: state machine, Lessor, watch hub) fed by a
// CommandLog — a one-member cluster's WAL (SingleNodeLog) or Raft (RaftCommandLog). Everything
// above the log is one code path for both: reads, lease keep-alives and expiry, watches, the
// member list. Owns the timers the pure core must not have: lease expiry, watch catch-up and
// progress notification.
//
// Leases: only the leader's Lessor holds deadlines (promoted on election with every deadline
// restarted, demoted on losing leadership), so only the leader expires leases, by proposing
// leaseRevoke through the log. A keep-alive or TimeToLive reaching a follower is forwarded to
// the leader's client URL (LeaderClient), as etcd forwards LeaseRenew to its leader.
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { PeerAddress } from '../../raft/transport/index.js';
import {
  CoordError,
  etcdErrors,
  isReadOnlyTxn,
  newLeaseId,
  type WatchRequest,
  type WatchSink,
  type Command,
  type CommandResult,
  type CoordStateMachine,
  type HashKvResult,
  type LeaseTimeToLiveResponse,
  type RangeRequest,
  type RangeResponse,
} from '../index.js';
import type { CommandLog, MemberRecord, Membership } from './command-log.js';
import { clusterIdOf, deriveIdentity, loadIdentity, memberIdOf, saveIdentity, type MemberIdentity } from './member.js';
import { ErrRemoved, RaftCommandLog } from './raft-log.js';
import { Replica } from './replica.js';
import { ErrStopped, SingleNodeLog, type OpenReport } from './single-node-log.js';

export type { OpenReport };

/**
 * The etcd version Shoal answers as (Maintenance.Status): exactly etcd's, since clients compare it
 * as a semver and a pre-release suffix would sort below 3.4.23. Shoal's own identity is logged.
 */
export const COORD_VERSION = '3.4.23';

/** Calls a leader's client API on a follower's behalf (implemented over gRPC by the server). */
export interface LeaderClient {
  /** Renews lease `id` on the leader; its TTL, or 0 when the lease does not exist. */
  keepAlive(clientUrl: string, id: number): Promise<number>;
  timeToLive(clientUrl: string, id: number, keys: boolean): Promise<LeaseTimeToLiveResponse>;
  close(): void;
}

/** A replicated member's settings (shoal coord with a multi-member --initial-cluster). */
export interface RaftMemberOptions {
  /** --initial-cluster: every founding member (this one included), or the members to join. */
  initialCluster: { name: string; peerUrls: string[] }[];
  /** new: found a cluster; existing: restart, or join a running cluster with an empty data dir. */
  state: 'new' | 'existing';
  /** Where the peer transport listens (--listen-peer-urls). */
  listen: PeerAddress;
  /** --peer-dial: the address to dial for a named member instead of its advertised peer URL. */
  peerDial: ReadonlyMap<string, PeerAddress>;
  /** Raft tick (etcd's --heartbeat-interval). Default 100 ms. */
  tickMs?: number;
  /** Election timeout in ticks (etcd's --election-timeout / --heartbeat-interval). Default 10. */
  electionTicks?: number;
  /** Log entries kept behind a snapshot for slow followers (etcd's snapshot-catchup-entries). */
  catchupEntries?: number;
}

export interface CoordNodeOptions {
  dataDir: string;
  name: string;
  clientUrls: string[];
  peerUrls: string[];
  clusterToken: string;
  log: Logger;
  /** Take a snapshot after this many applied commands (etcd's --snapshot-count). Default 100,000, as etcd 3.4's. */
  snapshotCount?: number;
  /** fdatasync before acknowledging (default true; false only for tests and benchmarks). */
  sync?: boolean;
  /** How often expired leases are looked for. Default 500 ms (etcd checks every 500 ms). */
  leaseTickMs?: number;
  /** Interval of watch progress notifications (etcd: 10 minutes). */
  progressNotifyMs?: number;
  /**
   * The cluster this member belongs to. A fresh data dir runs on Raft when it lists more than one
   * member or joins a running cluster; otherwise (or when absent) as one member on its own WAL.
   * A data dir keeps the mode it was created with.
   */
  raft?: RaftMemberOptions;
  /** Forwards lease calls to the leader (replicated members). */
  leaderClient?: LeaderClient;
  /** Called when the node can no longer serve (storage failed). */
  onFatal?: (err: Error) => void;
}

/** etcd revokes at most this many expired leases per second. */
const REVOKES_PER_SECOND = 1000;
const WATCH_CATCH_UP_MS = 100;

export class CoordNode {
  private stoppingFlag = false;
  private removedFlag = false;
  private closed: Promise<void> | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly revoking = new Set<number>();
  private readonly clock = () => performance.now();
  private log!: CommandLog;
  private replica!: Replica;
  /** Bytes in the member directory (logs and snapshots), refreshed in the background. */
  private storedBytes = 0;
  report: OpenReport = { snapshotIndex: 0, replayed: 0, repaired: null };

  private constructor(
    private readonly options: CoordNodeOptions,
    private readonly identity: MemberIdentity,
    private readonly memberDir: string,
  ) {}

  static async open(options: CoordNodeOptions): Promise<CoordNode> {
    const sync = options.sync ?? true;
    const memberDir = join(options.dataDir, 'member');
    await mkdir(memberDir, { recursive: true });
    const { identity, fresh } = await CoordNode.identity(options, memberDir, sync);
    const node = new CoordNode(options, identity, memberDir);
    if (identity.founders === undefined) await node.openSingle(sync);
    else await node.openRaft(sync, fresh);
    node.startTimers();
    return node;
  }

  /** The stored identity, or a new one; a data dir belongs to one member and one mode. */
  private static async identity(o: CoordNodeOptions, memberDir: string, sync: boolean): Promise<{ identity: MemberIdentity; fresh: boolean }> {
    const stored = await loadIdentity(memberDir);
    if (stored !== null) {
      if (stored.name !== o.name) throw new Error(`coord: data dir ${o.dataDir} belongs to member "${stored.name}", not "${o.name}"`);
      if (stored.founders === undefined && o.raft !== undefined && o.raft.initialCluster.length > 1) {
        throw new Error(`coord: data dir ${o.dataDir} holds a single-member coordinator (no Raft log); it cannot become one of ${o.raft.initialCluster.length}`);
      }
      return { identity: stored, fresh: false };
    }
    let identity: MemberIdentity;
    // A one-member cluster runs on its own WAL; more members, or joining one, run on Raft.
    if (o.raft === undefined || (o.raft.initialCluster.length === 1 && o.raft.state === 'new')) {
      identity = deriveIdentity(o.name, o.peerUrls, o.clusterToken);
    } else {
      const memberId = memberIdOf(o.peerUrls, o.clusterToken);
      const members = o.raft.initialCluster.map((m) => ({ id: memberIdOf(m.peerUrls, o.clusterToken), name: m.name, peerUrls: [...m.peerUrls].sort() }));
      const joining = o.raft.state === 'existing';
      identity = {
        memberId,
        // A joining member learns the cluster id (and the members) from the leader's snapshot.
        clusterId: joining ? 0 : clusterIdOf(members.map((m) => m.id), o.clusterToken),
        name: o.name,
        peerUrls: [...o.peerUrls].sort(),
        founders: joining ? [] : members,
      };
    }
    await saveIdentity(memberDir, identity, sync);
    return { identity, fresh: true };
  }

  private async openSingle(sync: boolean): Promise<void> {
    const log = await SingleNodeLog.open({
      memberDir: this.memberDir,
      identity: this.identity,
      sync,
      log: this.options.log,
      snapshotCount: this.options.snapshotCount ?? 100_000,
      onRecovered: (sm) => this.makeReplica(sm),
      apply: (cmd, index) => this.replica.apply(cmd, index),
      snapshot: () => this.replica.snapshot(),
      snapshotSteps: () => this.replica.snapshotSteps(),
      onFatal: (err) => this.fatal(err),
    });
    this.log = log;
    this.report = log.report;
    // Single member: the leader from the start. Every lease's deadline restarts now (etcd's
    // promote): time spent down never expires a lease early.
    this.replica.lessor.promote(this.clock());
  }

  private async openRaft(sync: boolean, fresh: boolean): Promise<void> {
    const raft = this.options.raft;
    if (raft === undefined) throw new Error('coord: this data dir holds a replicated member: start it with --initial-cluster');
    this.makeReplica(undefined);
    const tickMs = raft.tickMs ?? 100;
    const electionTicks = raft.electionTicks ?? 10;
    const log = await RaftCommandLog.start({
      memberDir: this.memberDir,
      identity: this.identity,
      clusterToken: this.options.clusterToken,
      join: fresh && raft.state === 'existing',
      initialPeers: raft.initialCluster.map((m) => ({ id: memberIdOf(m.peerUrls, this.options.clusterToken), name: m.name, peerUrls: m.peerUrls })),
      peerDial: raft.peerDial,
      listen: raft.listen,
      sync,
      tickMs,
      electionTicks,
      snapshotCount: this.options.snapshotCount ?? 100_000,
      catchupEntries: raft.catchupEntries ?? 5_000,
      log: this.options.log,
      hooks: {
        apply: (cmd, index) => this.replica.apply(cmd, index),
        snapshot: () => this.replica.snapshot(),
        snapshotSteps: () => this.replica.snapshotSteps(),
        restore: (keySpace) => this.replica.restore(keySpace),
        // etcd extends every deadline by an election timeout on promotion: the old leader's
        // keep-alives may have been lost in the hand-over.
        onLeadership: (leader) => (leader ? this.replica.lessor.promote(this.clock(), tickMs * electionTicks) : this.replica.lessor.demote()),
        onRemoved: () => {
          this.removedFlag = true;
        },
        onFatal: (err) => this.fatal(err),
      },
    });
    this.log = log;
    const s = log.status();
    this.report = { snapshotIndex: s.snapshotIndex, replayed: Math.max(0, s.commit - s.snapshotIndex), repaired: null };
  }

  private makeReplica(sm: CoordStateMachine | undefined): void {
    this.replica = new Replica(
      { clock: this.clock, onSinkError: (watchId, err) => this.options.log.warn({ watchId, err }, 'coord: a watch stream failed; watch dropped') },
      sm,
    );
  }

  // ---------------------------------------------------------------- CoordBackend

  get memberId(): number {
    return this.identity.memberId;
  }

  get clusterId(): number {
    return this.log.membership.clusterId;
  }

  get revision(): number {
    return this.replica.sm.currentRevision;
  }

  /** True once close() began or the member was removed: streams end, calls are refused. */
  get stopping(): boolean {
    return this.stoppingFlag || this.removedFlag;
  }

  /** Why calls are refused now, or null while serving. */
  refusal(): CoordError | null {
    if (this.removedFlag) return ErrRemoved();
    if (this.stoppingFlag) return ErrStopped();
    return null;
  }

  header(revision: number) {
    return { clusterId: this.clusterId, memberId: this.identity.memberId, revision, raftTerm: this.log.term };
  }

  propose(cmd: Command): Promise<CommandResult> {
    const refused = this.refusal();
    if (refused !== null) return Promise.reject(refused);
    if (cmd.type === 'txn' && isReadOnlyTxn(cmd.req)) {
      // A txn that only reads needs no log entry: once the read barrier passed, it is evaluated
      // against the applied key space (as etcd serves a read-only txn like a Range).
      const req = cmd.req;
      return Promise.resolve(this.afterBarrier((): CommandResult => ({ type: 'txn', res: this.replica.sm.readTxn(req) })));
    }
    return this.log.propose(cmd);
  }

  range(req: RangeRequest): RangeResponse | Promise<RangeResponse> {
    if (req.serializable) return this.replica.sm.range(req);
    return this.afterBarrier(() => this.replica.sm.range(req));
  }

  newLeaseId(): number {
    return newLeaseId(Math.random, (id) => this.replica.sm.hasLease(id));
  }

  /**
   * Renews a lease on the leader: here when this member leads, else forwarded (`forwarded`:
   * the call already was, so it is not passed on again). 0 for an unknown or expired lease.
   */
  leaseKeepAlive(id: number, forwarded = false): number | Promise<number> {
    const lessor = this.replica.lessor;
    if (lessor.isPrimary) {
      try {
        return lessor.renew(id, this.clock());
      } catch (err) {
        if (err instanceof CoordError && err.code === 'NOT_FOUND') return 0;
        throw err;
      }
    }
    if (forwarded) throw etcdErrors.ErrNotLeader();
    return this.viaLeader((client, url) => client.keepAlive(url, id));
  }

  /** The remaining TTL comes from the leader's Lessor (the only one with deadlines). */
  leaseTimeToLive(id: number, keys: boolean, forwarded = false): LeaseTimeToLiveResponse | Promise<LeaseTimeToLiveResponse> {
    const lessor = this.replica.lessor;
    if (lessor.isPrimary) {
      const now = this.clock();
      return this.replica.sm.leaseTimeToLive(id, keys, (lease) => lessor.remainingTtl(lease, now));
    }
    if (forwarded) throw etcdErrors.ErrNotLeader();
    return this.viaLeader((client, url) => client.timeToLive(url, id, keys));
  }

  leaseIds(): number[] {
    return this.replica.sm.leases().map((l) => l.id);
  }

  watch(req: WatchRequest, sink: WatchSink): number {
    return this.replica.hub.watch(req, sink);
  }

  cancelWatch(hubId: number): void {
    this.replica.hub.cancel(hubId);
  }

  isWatchSynced(hubId: number): boolean {
    return this.replica.hub.isSynced(hubId);
  }

  /** The advertised client URLs (known once the server has bound its ports), published to the cluster. */
  setClientUrls(urls: string[]): void {
    this.log.membership.publish(this.identity.name, urls);
  }

  hashKv(revision: number): HashKvResult {
    return this.replica.sm.hashKv(revision);
  }

  hash(): number {
    return this.replica.sm.hash();
  }

  get isLearner(): boolean {
    return this.log.isLearner;
  }

  members(): MemberRecord[] {
    return this.log.membership.members();
  }

  get membership(): Membership {
    return this.log.membership;
  }

  status() {
    return {
      version: COORD_VERSION,
      dbSize: this.storedBytes,
      leader: this.log.leaderId,
      raftIndex: this.log.committedIndex,
      raftTerm: this.log.term,
      raftAppliedIndex: this.log.appliedIndex,
      isLearner: this.log.isLearner,
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /** Stops the timers, lets in-flight proposals finish, closes the log. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stoppingFlag = true;
      for (const t of this.timers) clearInterval(t);
      this.options.leaderClient?.close();
      await this.log.close();
      this.options.log.info(this.log.stats(), 'coord: log closed');
    })();
    return this.closed;
  }

  private afterBarrier<T>(read: () => T): T | Promise<T> {
    const barrier = this.log.readBarrier();
    return barrier === null ? read() : barrier.then(read);
  }

  /**
   * Runs `call` against the leader's client URL, waiting (bounded) for a leader that has
   * published one and retrying while leadership moves.
   */
  private async viaLeader<T>(call: (client: LeaderClient, url: string) => Promise<T>): Promise<T> {
    const client = this.options.leaderClient;
    if (client === undefined) throw etcdErrors.ErrNotLeader();
    const raft = this.options.raft;
    const deadline = Date.now() + 2 * (raft?.tickMs ?? 100) * (raft?.electionTicks ?? 10) + 1000;
    let last: unknown = new CoordError('UNAVAILABLE', 'etcdserver: no leader');
    for (;;) {
      const refused = this.refusal();
      if (refused !== null) throw refused;
      if (this.replica.lessor.isPrimary) throw etcdErrors.ErrNotLeader(); // became leader meanwhile: the caller retries
      const leader = this.log.leaderId;
      const url = leader === 0 || leader === this.identity.memberId ? undefined : this.members().find((m) => m.id === leader)?.clientUrls[0];
      if (url !== undefined) {
        try {
          return await call(client, url);
        } catch (err) {
          if (!(err instanceof CoordError && err.code === 'UNAVAILABLE')) throw err;
          last = err;
        }
      }
      if (Date.now() >= deadline) throw last;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private fatal(err: Error): void {
    this.options.log.fatal({ err }, 'coord: storage failed; the node stops');
    this.stoppingFlag = true;
    this.options.onFatal?.(err);
  }

  private startTimers(): void {
    const tickMs = this.options.leaseTickMs ?? 500;
    const perTick = Math.max(1, Math.ceil((REVOKES_PER_SECOND * tickMs) / 1000));
    this.timers.push(setInterval(() => this.revokeExpired(perTick), tickMs));
    this.timers.push(
      setInterval(() => {
        if (this.replica.hub.unsyncedCount > 0) this.replica.hub.catchUp();
      }, WATCH_CATCH_UP_MS),
    );
    this.timers.push(setInterval(() => this.replica.hub.progress(), this.options.progressNotifyMs ?? 10 * 60_000));
    this.timers.push(setInterval(() => void this.measureStorage(), 5_000));
    for (const t of this.timers) t.unref();
    void this.measureStorage();
  }

  /** On the leader only (the Lessor reports nothing elsewhere): propose revoking expired leases. */
  private revokeExpired(limit: number): void {
    if (this.stopping) return;
    for (const id of this.replica.lessor.expired(this.clock(), limit)) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.log
        .propose({ type: 'leaseRevoke', req: { id } })
        .catch((err: unknown) => {
          // Revoked meanwhile by a client: nothing to do. Anything else is retried next time.
          if (!(err instanceof CoordError && err.code === 'NOT_FOUND') && !this.stopping) {
            this.options.log.warn({ err, lease: id }, 'coord: revoking an expired lease failed');
          }
        })
        .finally(() => this.revoking.delete(id));
    }
  }

  private async measureStorage(): Promise<void> {
    this.storedBytes = await dirBytes(this.memberDir);
  }
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await dirBytes(path);
    else total += (await stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
