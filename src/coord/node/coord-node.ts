// One coordinator member: the state machine, its lease deadlines (Lessor) and watch hub, fed by
// a CommandLog (single node: the WAL), with periodic snapshots. Owns the timers the pure core
// must not have: the lease expiry ticker, watch catch-up and progress notification.
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { SnapshotStore, Wal } from '../../wal/index.js';
import {
  CoordError,
  CoordStateMachine,
  Lessor,
  newLeaseId,
  WatchHub,
  type WatchRequest,
  type WatchSink,
  type Command,
  type CommandResult,
  type LeaseTimeToLiveResponse,
  type RangeRequest,
  type RangeResponse,
} from '../index.js';
import { decodeCommand } from './command-codec.js';
import type { CommandLog } from './command-log.js';
import { deriveIdentity, loadIdentity, saveIdentity, type MemberIdentity } from './member.js';
import { ErrStopped, SingleNodeLog } from './single-node-log.js';

export const COORD_VERSION = '3.4.23-shoal';

export interface CoordNodeOptions {
  dataDir: string;
  name: string;
  clientUrls: string[];
  peerUrls: string[];
  clusterToken: string;
  log: Logger;
  /** Take a snapshot after this many applied commands (etcd's --snapshot-count). Default 10000. */
  snapshotCount?: number;
  /** fdatasync before acknowledging (default true; false only for tests and benchmarks). */
  sync?: boolean;
  /** How often expired leases are looked for. Default 500 ms (etcd checks every 500 ms). */
  leaseTickMs?: number;
  /** Interval of watch progress notifications (etcd: 10 minutes). */
  progressNotifyMs?: number;
  /** Called when the node can no longer serve (storage failed). */
  onFatal?: (err: Error) => void;
}

export interface OpenReport {
  snapshotIndex: number;
  replayed: number;
  repaired: { segment: string; offset: number; truncatedBytes: number } | null;
}

/** etcd revokes at most this many expired leases per second. */
const REVOKES_PER_SECOND = 1000;
const WATCH_CATCH_UP_MS = 100;

export class CoordNode {
  private stoppingFlag = false;
  private closed: Promise<void> | null = null;
  private snapshotting = false;
  private lastSnapshotIndex: number;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly revoking = new Set<number>();
  private readonly clock = () => performance.now();

  private constructor(
    private readonly options: CoordNodeOptions,
    private readonly identity: MemberIdentity,
    private readonly sm: CoordStateMachine,
    private readonly lessor: Lessor,
    private readonly hub: WatchHub,
    private readonly log: CommandLog,
    private readonly snapshots: SnapshotStore,
    private readonly wal: Wal,
    private readonly memberDir: string,
    snapshotIndex: number,
    readonly report: OpenReport,
  ) {
    this.lastSnapshotIndex = snapshotIndex;
    this.clientUrls = [...options.clientUrls];
  }

  static async open(options: CoordNodeOptions): Promise<CoordNode> {
    const logger = options.log;
    const sync = options.sync ?? true;
    const memberDir = join(options.dataDir, 'member');
    await mkdir(memberDir, { recursive: true });

    let identity = await loadIdentity(memberDir);
    if (identity === null) {
      identity = deriveIdentity(options.name, options.peerUrls, options.clusterToken);
      await saveIdentity(memberDir, identity, sync);
    } else if (identity.name !== options.name) {
      throw new Error(`coord: data dir ${options.dataDir} belongs to member "${identity.name}", not "${options.name}"`);
    }

    const snapshots = await SnapshotStore.open({ dir: join(memberDir, 'snap'), sync });
    const latest = await snapshots.loadLatest();
    for (const path of latest?.skipped ?? []) logger.warn({ path }, 'coord: skipped a damaged snapshot');
    const sm = latest === null ? new CoordStateMachine() : CoordStateMachine.restore(latest.data);
    const snapshotIndex = latest?.index ?? 0;
    if (sm.appliedIndex !== snapshotIndex) {
      throw new Error(`coord: snapshot ${snapshotIndex} holds applied index ${sm.appliedIndex}`);
    }

    const { wal, records, repaired } = await Wal.open({ dir: join(memberDir, 'wal'), sync });
    if (repaired !== null) {
      logger.warn(
        { segment: repaired.segment, offset: repaired.offset, truncatedBytes: repaired.truncatedBytes, lsn: repaired.lsn },
        'coord: repaired a torn write at the end of the log (it was never acknowledged)',
      );
    }
    if (wal.firstLsn > snapshotIndex + 1) {
      await wal.close();
      throw new Error(`coord: the log starts at ${wal.firstLsn} but the newest snapshot covers only up to ${snapshotIndex}`);
    }
    if (wal.nextLsn <= snapshotIndex) {
      await wal.close();
      throw new Error(`coord: the log ends at ${wal.nextLsn - 1}, before the snapshot at ${snapshotIndex}: the log was lost`);
    }
    let replayed = 0;
    for (const r of records) {
      if (r.lsn <= snapshotIndex) continue;
      try {
        sm.apply(decodeCommand(r.data), r.lsn);
      } catch (err) {
        // A command that failed when first applied fails again: that is its result.
        if (!(err instanceof CoordError)) throw err;
      }
      replayed++;
    }
    records.length = 0;

    const lessor = new Lessor();
    const hub = new WatchHub(sm, {
      onSinkError: (watchId, err) => logger.warn({ watchId, err }, 'coord: a watch stream failed; watch dropped'),
    });
    sm.onRevision((record) => hub.notify(record));

    // The node is constructed before the log so the log's callbacks can reach it.
    let node: CoordNode | null = null;
    const commandLog = new SingleNodeLog({
      wal,
      memberId: identity.memberId,
      apply: (cmd, index) => (node as CoordNode).applyCommand(cmd, index),
      onApplied: (index) => node?.maybeSnapshot(index),
      onFatal: (err) => node?.fatal(err),
    });
    node = new CoordNode(options, identity, sm, lessor, hub, commandLog, snapshots, wal, memberDir, snapshotIndex, {
      snapshotIndex,
      replayed,
      repaired,
    });

    // Single member: this node is the leader from the start. Every lease's deadline restarts
    // now (etcd's promote): time spent down never expires a lease early.
    const now = node.clock();
    lessor.sync(sm.leases(), now);
    lessor.promote(now);
    node.startTimers();
    return node;
  }

  // ---------------------------------------------------------------- CoordBackend

  get memberId(): number {
    return this.identity.memberId;
  }

  get clusterId(): number {
    return this.identity.clusterId;
  }

  get revision(): number {
    return this.sm.currentRevision;
  }

  get stopping(): boolean {
    return this.stoppingFlag;
  }

  header(revision: number) {
    return { clusterId: this.identity.clusterId, memberId: this.identity.memberId, revision, raftTerm: this.log.term };
  }

  propose(cmd: Command): Promise<CommandResult> {
    if (this.stoppingFlag) return Promise.reject(ErrStopped());
    return this.log.propose(cmd);
  }

  range(req: RangeRequest): RangeResponse | Promise<RangeResponse> {
    if (!req.serializable) {
      const barrier = this.log.readBarrier();
      if (barrier !== null) return barrier.then(() => this.sm.range(req));
    }
    return this.sm.range(req);
  }

  newLeaseId(): number {
    return newLeaseId(Math.random, (id) => this.sm.hasLease(id));
  }

  leaseKeepAlive(id: number): number {
    try {
      return this.lessor.renew(id, this.clock());
    } catch (err) {
      if (err instanceof CoordError && err.code === 'NOT_FOUND') return 0;
      throw err;
    }
  }

  leaseTimeToLive(id: number, keys: boolean): LeaseTimeToLiveResponse {
    const now = this.clock();
    return this.sm.leaseTimeToLive(id, keys, (lease) => this.lessor.remainingTtl(lease, now));
  }

  leaseIds(): number[] {
    return this.sm.leases().map((l) => l.id);
  }

  watch(req: WatchRequest, sink: WatchSink): number {
    return this.hub.watch(req, sink);
  }

  cancelWatch(hubId: number): void {
    this.hub.cancel(hubId);
  }

  isWatchSynced(hubId: number): boolean {
    return this.hub.isSynced(hubId);
  }

  /** The advertised client URLs (known once the server has bound its ports). */
  setClientUrls(urls: string[]): void {
    this.clientUrls = [...urls];
  }

  private clientUrls: string[] = [];

  members() {
    return [
      {
        id: this.identity.memberId,
        name: this.identity.name,
        peerUrls: this.identity.peerUrls,
        clientUrls: this.clientUrls,
      },
    ];
  }

  status() {
    return {
      version: COORD_VERSION,
      dbSize: this.storedBytes,
      leader: this.log.leaderId,
      raftIndex: this.log.committedIndex,
      raftTerm: this.log.term,
      raftAppliedIndex: this.log.appliedIndex,
    };
  }

  /** Bytes in the member directory (log segments and snapshots), refreshed in the background. */
  private storedBytes = 0;

  // ---------------------------------------------------------------- lifecycle

  /** Stops the timers, lets in-flight proposals finish, closes the log. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.stoppingFlag = true;
      for (const t of this.timers) clearInterval(t);
      await this.log.close();
      this.options.log.info({ wal: this.wal.stats() }, 'coord: log closed');
    })();
    return this.closed;
  }

  private applyCommand(cmd: Command, index: number): CommandResult {
    const res = this.sm.apply(cmd, index);
    // Lease deadlines follow the replicated lease table.
    if (res.type === 'leaseGrant') this.lessor.grant(res.res.id, res.res.ttl, this.clock());
    else if (res.type === 'leaseRevoke' && cmd.type === 'leaseRevoke') this.lessor.revoke(cmd.req.id);
    return res;
  }

  private maybeSnapshot(index: number): void {
    const every = this.options.snapshotCount ?? 10_000;
    if (this.snapshotting || index - this.lastSnapshotIndex < every) return;
    this.snapshotting = true;
    // Encoded now, between two applies, so it is exactly the state at `index`.
    const data = this.sm.snapshot();
    const started = Date.now();
    this.snapshots
      .save(index, data)
      .then(async () => {
        this.lastSnapshotIndex = index;
        const released = await this.wal.releaseBefore(index + 1);
        this.options.log.info({ index, bytes: data.length, ms: Date.now() - started, released }, 'coord: snapshot saved');
      })
      .catch((err: unknown) => this.options.log.error({ err, index }, 'coord: snapshot failed; the log keeps everything'))
      .finally(() => {
        this.snapshotting = false;
      });
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
        if (this.hub.unsyncedCount > 0) this.hub.catchUp();
      }, WATCH_CATCH_UP_MS),
    );
    this.timers.push(setInterval(() => this.hub.progress(), this.options.progressNotifyMs ?? 10 * 60_000));
    this.timers.push(setInterval(() => void this.measureStorage(), 5_000));
    for (const t of this.timers) t.unref();
    void this.measureStorage();
  }

  private revokeExpired(limit: number): void {
    if (this.stoppingFlag) return;
    for (const id of this.lessor.expired(this.clock(), limit)) {
      if (this.revoking.has(id)) continue;
      this.revoking.add(id);
      this.log
        .propose({ type: 'leaseRevoke', req: { id } })
        .catch((err: unknown) => {
          // Revoked meanwhile by a client: nothing to do. Anything else is retried next tick.
          if (!(err instanceof CoordError && err.code === 'NOT_FOUND') && !this.stoppingFlag) {
            this.options.log.warn({ err, lease: id }, 'coord: revoking an expired lease failed');
          }
        })
        .finally(() => this.revoking.delete(id));
    }
  }

  private async measureStorage(): Promise<void> {
    let total = 0;
    for (const sub of ['wal', 'snap']) {
      const dir = join(this.memberDir, sub);
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        total += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
      }
    }
    this.storedBytes = total;
  }
}
