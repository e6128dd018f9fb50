// The CommandLog of a one-member cluster: a proposal is durable once its WAL record is
// fdatasync'ed, and is then applied. Proposals made in the same tick go to the WAL as one batch;
// the WAL writes whatever queued while the previous fsync ran as one write (group commit), so
// under load many proposals share one fsync.
//
// Commands are applied only after they are durable, and in index order. Hence the applied state
// never shows a write that a crash could lose, and a read served from it at any point between
// two macrotasks is linearizable: nothing committed is left unapplied.
//
// Snapshots are this log's own: every `snapshotCount` commands the key space is written to the
// snapshot store and the WAL segments it covers are released. open() restores the newest
// snapshot and replays the WAL after it.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SnapshotStore, Wal } from '../../wal/index.js';
import { CoordError, type Command, type CommandResult } from '../types.js';
import { CoordStateMachine } from '../index.js';
import { decodeCommand, encodeCommand } from './command-codec.js';
import type { CommandLog, Membership, MemberRecord } from './command-log.js';
import { driveSteps } from './drive-steps.js';
import type { MemberIdentity } from './member.js';

interface Proposal {
  index: number;
  cmd: Command;
  resolve: (res: CommandResult) => void;
  reject: (err: unknown) => void;
}

export interface SingleNodeLogOptions {
  wal: Wal;
  memberId: number;
  /** Applies the command at `index`; throws CoordError as the command's deterministic result. */
  apply: (cmd: Command, index: number) => CommandResult;
  /** Called after each group of commands is applied, with the last applied index. */
  onApplied?: (index: number) => void;
  /** The WAL failed (it refuses all further appends): the node must stop. */
  onFatal: (err: Error) => void;
  /** The member's identity, for the member list (default: just its id). */
  identity?: MemberIdentity;
}

export interface SingleNodeOpenOptions {
  memberDir: string;
  identity: MemberIdentity;
  sync: boolean;
  log: Logger;
  /** Take a snapshot after this many applied commands (etcd's --snapshot-count). */
  snapshotCount: number;
  /** The state the key space starts from: the newest snapshot with the WAL replayed onto it. */
  onRecovered: (sm: CoordStateMachine) => void;
  apply: (cmd: Command, index: number) => CommandResult;
  /** The key space's snapshot as of the last applied command. */
  snapshot: () => Buffer;
  /** The same, captured now and encoded as the generator is driven (optional: else snapshot()). */
  snapshotSteps?: () => Generator<void, Buffer, void>;
  onFatal: (err: Error) => void;
}

export interface OpenReport {
  snapshotIndex: number;
  replayed: number;
  repaired: { segment: string; offset: number; truncatedBytes: number } | null;
}

export const ErrStopped = (): CoordError => new CoordError('UNAVAILABLE', 'etcdserver: server stopped');

const ErrSingleMember = (): CoordError =>
  new CoordError(
    'FAILED_PRECONDITION',
    'shoal: this member runs without Raft (started with a one-member --initial-cluster): its membership cannot change',
  );

/** The membership of a one-member cluster: this member, fixed. */
class SingleMembership implements Membership {
  readonly removed = false;
  private clientUrls: string[] = [];
  constructor(private readonly identity: MemberIdentity) {}
  get clusterId(): number {
    return this.identity.clusterId;
  }
  members(): MemberRecord[] {
    const { memberId, name, peerUrls } = this.identity;
    return [{ id: memberId, name, peerUrls: [...peerUrls], clientUrls: [...this.clientUrls], isLearner: false }];
  }
  publish(_name: string, clientUrls: string[]): void {
    this.clientUrls = [...clientUrls];
  }
  add(): Promise<never> {
    return Promise.reject(ErrSingleMember());
  }
  remove(): Promise<never> {
    return Promise.reject(ErrSingleMember());
  }
  promote(): Promise<never> {
    return Promise.reject(ErrSingleMember());
  }
  updatePeerUrls(): Promise<never> {
    return Promise.reject(ErrSingleMember());
  }
  moveLeader(): Promise<never> {
    return Promise.reject(new CoordError('FAILED_PRECONDITION', 'etcdserver: bad leader transferee'));
  }
}

export class SingleNodeLog implements CommandLog {
  private readonly wal: Wal;
  private readonly queue: Proposal[] = [];
  private head = 0;
  private batch: Buffer[] = [];
  private scheduled = false;
  /** The previous WAL batch was a single proposal with nothing else outstanding. */
  private lastBatchSingle = false;
  private inFlight = 0;
  private drained: (() => void) | null = null;
  private closed = false;
  private failure: Error | null = null;
  private applied: number;
  private committed: number;
  private snapshots: {
    store: SnapshotStore;
    every: number;
    last: number;
    busy: boolean;
    log: Logger;
    snapshot: () => Buffer;
    snapshotSteps?: () => Generator<void, Buffer, void>;
  } | null = null;
  readonly membership: Membership;

  readonly term = 1;
  readonly leaderId: number;
  readonly isLeader = true;
  readonly isLearner = false;
  report: OpenReport = { snapshotIndex: 0, replayed: 0, repaired: null };

  constructor(private readonly options: SingleNodeLogOptions) {
    this.wal = options.wal;
    this.leaderId = options.memberId;
    this.applied = options.wal.nextLsn - 1;
    this.committed = this.applied;
    this.membership = new SingleMembership(options.identity ?? { memberId: options.memberId, clusterId: 0, name: '', peerUrls: [] });
  }

  /** Restores the newest snapshot, replays the WAL after it, and starts logging. */
  static async open(o: SingleNodeOpenOptions): Promise<SingleNodeLog> {
    const store = await SnapshotStore.open({ dir: join(o.memberDir, 'snap'), sync: o.sync });
    const latest = await store.loadLatest();
    for (const path of latest?.skipped ?? []) o.log.warn({ path }, 'coord: skipped a damaged snapshot');
    const sm = latest === null ? new CoordStateMachine() : CoordStateMachine.restore(latest.data);
    const snapshotIndex = latest?.index ?? 0;
    if (sm.appliedIndex !== snapshotIndex) {
      throw new Error(`coord: snapshot ${snapshotIndex} holds applied index ${sm.appliedIndex}`);
    }

    const { wal, records, repaired } = await Wal.open({ dir: join(o.memberDir, 'wal'), sync: o.sync });
    if (repaired !== null) {
      o.log.warn(
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
    o.onRecovered(sm);

    const log: SingleNodeLog = new SingleNodeLog({
      wal,
      memberId: o.identity.memberId,
      apply: o.apply,
      onApplied: (index) => log.maybeSnapshot(index),
      onFatal: o.onFatal,
      identity: o.identity,
    });
    log.snapshots = { store, every: o.snapshotCount, last: snapshotIndex, busy: false, log: o.log, snapshot: o.snapshot, snapshotSteps: o.snapshotSteps };
    log.report = { snapshotIndex, replayed, repaired };
    return log;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get committedIndex(): number {
    return this.committed;
  }

  stats(): object {
    return { wal: this.wal.stats() };
  }

  propose(cmd: Command): Promise<CommandResult> {
    if (this.closed || this.failure !== null) return Promise.reject(ErrStopped());
    let data: Buffer;
    try {
      data = encodeCommand(cmd);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<CommandResult>((resolve, reject) => {
      const index = this.wal.nextLsn + this.batch.length;
      this.queue.push({ index, cmd, resolve, reject });
      this.batch.push(data);
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(this.flush);
      }
    });
  }

  readBarrier(): null {
    return null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.scheduled || this.inFlight > 0) {
      await new Promise<void>((resolve) => (this.drained = resolve));
    }
    await this.wal.close();
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return this.settle();
    this.inFlight++;
    // A sequential client's proposal may be written inline: the only one outstanding, after a
    // batch that was alone too (with several clients one may be alone for a moment, while the
    // others are still on their way: their batches are not single).
    const single = batch.length === 1 && this.queue.length - this.head === 1;
    const idle = single && this.lastBatchSingle;
    this.lastBatchSingle = single;
    this.wal.appendBatch(batch, { idle }).then(
      (lsn) => {
        this.inFlight--;
        this.commit(lsn);
        this.settle();
      },
      (err: unknown) => {
        this.inFlight--;
        this.fail(err instanceof Error ? err : new Error(String(err)));
        this.settle();
      },
    );
  };

  private commit(lsn: number): void {
    if (lsn <= this.committed) throw new Error(`single-node log: LSN ${lsn} acknowledged after ${this.committed}`);
    this.committed = lsn;
    const q = this.queue;
    while (this.head < q.length && q[this.head].index <= lsn) {
      const p = q[this.head];
      q[this.head++] = undefined as unknown as Proposal;
      if (p.index !== this.applied + 1) throw new Error(`single-node log: applying ${p.index} after ${this.applied}`);
      let res: CommandResult;
      try {
        res = this.options.apply(p.cmd, p.index);
      } catch (err) {
        this.applied = p.index;
        if (err instanceof CoordError) {
          p.reject(err);
          continue;
        }
        // Not a client error: the state machine is broken; stop rather than diverge further.
        p.reject(err);
        this.fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      this.applied = p.index;
      p.resolve(res);
    }
    if (this.head > 1024 && this.head * 2 > q.length) {
      q.splice(0, this.head);
      this.head = 0;
    }
    this.options.onApplied?.(this.applied);
  }

  private maybeSnapshot(index: number): void {
    const snap = this.snapshots;
    if (snap === null || snap.busy || index - snap.last < snap.every) return;
    snap.busy = true;
    // Captured now, between two applies, so it is exactly the state at `index`; encoded over
    // the next event-loop turns (when the key space offers steps) while proposals go on.
    const started = Date.now();
    const encoded = snap.snapshotSteps !== undefined ? driveSteps(snap.snapshotSteps()) : Promise.resolve(snap.snapshot());
    let bytes = 0;
    encoded
      .then((data) => {
        bytes = data.length;
        return snap.store.save(index, data);
      })
      .then(async () => {
        snap.last = index;
        const released = await this.wal.releaseBefore(index + 1);
        snap.log.info({ index, bytes, ms: Date.now() - started, released }, 'coord: snapshot saved');
      })
      .catch((err: unknown) => snap.log.error({ err, index }, 'coord: snapshot failed; the log keeps everything'))
      .finally(() => {
        snap.busy = false;
      });
  }

  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    const q = this.queue;
    for (let i = this.head; i < q.length; i++) q[i].reject(ErrStopped());
    q.length = 0;
    this.head = 0;
    this.options.onFatal(err);
  }

  private settle(): void {
    if (this.drained !== null && !this.scheduled && this.inFlight === 0) {
      const done = this.drained;
      this.drained = null;
      done();
    }
  }
}
