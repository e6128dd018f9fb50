// The CommandLog of a one-member cluster: a proposal is durable once its WAL record is
// fdatasync'ed, and is then applied. Proposals made in the same tick go to the WAL as one batch;
// the WAL writes whatever queued while the previous fsync ran as one write (group commit), so
// under load many proposals share one fsync.
//
// Commands are applied only after they are durable, and in index order. Hence the applied state
// never shows a write that a crash could lose, and a read served from it at any point between
// two macrotasks is linearizable: nothing committed is left unapplied.
import type { Wal } from '../../wal/index.js';
import { CoordError, type Command, type CommandResult } from '../types.js';
import { encodeCommand } from './command-codec.js';
import type { CommandLog } from './command-log.js';

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
}

export const ErrStopped = (): CoordError => new CoordError('UNAVAILABLE', 'etcdserver: server stopped');

export class SingleNodeLog implements CommandLog {
  private readonly wal: Wal;
  private readonly queue: Proposal[] = [];
  private head = 0;
  private batch: Buffer[] = [];
  private scheduled = false;
  private inFlight = 0;
  private drained: (() => void) | null = null;
  private closed = false;
  private failure: Error | null = null;
  private applied: number;
  private committed: number;

  readonly term = 1;
  readonly leaderId: number;

  constructor(private readonly options: SingleNodeLogOptions) {
    this.wal = options.wal;
    this.leaderId = options.memberId;
    this.applied = options.wal.nextLsn - 1;
    this.committed = this.applied;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get committedIndex(): number {
    return this.committed;
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
    this.wal.appendBatch(batch).then(
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
