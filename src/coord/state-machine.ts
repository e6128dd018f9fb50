// The coordinator's replicated state machine: the MVCC key space and the lease table, changed
// only by log commands. Deterministic: the same commands from the same snapshot give the same
// responses, errors, events and snapshot bytes. No clocks, timers or I/O.
import type {
  Command,
  CommandResult,
  LeaseTimeToLiveResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
  WatchEvent,
} from './types.js';
import { ErrLeaseNotFound, invariant } from './errors.js';
import { DEFAULT_MIN_LEASE_TTL, LeaseTable } from './lease/table.js';
import { hashAll, hashKv, type HashKvResult } from './mvcc/hash.js';
import { keyBuffer, keyString } from './mvcc/keys.js';
import * as kv from './mvcc/kv.js';
import { MvccStore, type RevisionRecord } from './mvcc/store.js';
import { MAX_TXN_OPS } from './mvcc/validate.js';
import { captureSnapshot, decodeSnapshot, encodeSnapshot, encodeSteps } from './snapshot/snapshot.js';

export interface CoordStateMachineOptions {
  /** Granted lease TTLs are raised to at least this many seconds (default 2, as etcd's default). */
  minLeaseTtl?: number;
  /** etcd's --max-txn-ops (default 128). Not part of the snapshot: configuration, like etcd's. */
  maxTxnOps?: number;
}

/** Called once per revision the state machine writes, in revision order, after it is applied. */
export type RevisionListener = (record: RevisionRecord) => void;

/** The key space as a watch hub reads it. */
export interface WatchHistory {
  readonly currentRevision: number;
  readonly compactRevision: number;
  /** The events of one revision (empty for a revision with none), for compactRevision <= rev <= currentRevision. */
  eventsAt(revision: number): readonly WatchEvent[];
}

export class CoordStateMachine implements WatchHistory {
  private store: MvccStore;
  private leaseTable: LeaseTable;
  private applied: number;
  private readonly maxTxnOps: number;
  private readonly listeners = new Set<RevisionListener>();

  constructor(options: CoordStateMachineOptions = {}) {
    this.store = new MvccStore();
    this.leaseTable = new LeaseTable(options.minLeaseTtl ?? DEFAULT_MIN_LEASE_TTL);
    this.applied = 0;
    this.maxTxnOps = options.maxTxnOps ?? MAX_TXN_OPS;
  }

  get currentRevision(): number {
    return this.store.currentRevision;
  }

  get compactRevision(): number {
    return this.store.compactRevision;
  }

  /** The index of the last log entry applied (0 before any). */
  get appliedIndex(): number {
    return this.applied;
  }

  get minLeaseTtl(): number {
    return this.leaseTable.minTtl;
  }

  /**
   * Applies the log entry at `index`. A CoordError is the command's deterministic result: it
   * changes neither keys nor leases, though the entry still counts as applied.
   */
  apply(cmd: Command, index: number): CommandResult {
    this.consume(index);
    switch (cmd.type) {
      case 'put': {
        const { res, record } = kv.put(this.store, this.leaseTable, cmd.req);
        this.emit(record);
        return { type: 'put', res };
      }
      case 'deleteRange': {
        const { res, record } = kv.deleteRange(this.store, this.leaseTable, cmd.req);
        this.emit(record);
        return { type: 'deleteRange', res };
      }
      case 'txn': {
        const { res, record } = kv.txn(this.store, this.leaseTable, cmd.req, this.maxTxnOps);
        this.emit(record);
        return { type: 'txn', res };
      }
      case 'compact':
        this.store.compact(cmd.req.revision);
        return { type: 'compact', res: { revision: this.store.currentRevision } };
      case 'leaseGrant': {
        const lease = this.leaseTable.grant(cmd.req.id, cmd.req.ttl);
        return { type: 'leaseGrant', res: { revision: this.store.currentRevision, id: lease.id, ttl: lease.ttl } };
      }
      case 'leaseRevoke': {
        const lease = this.leaseTable.get(cmd.req.id);
        if (lease === undefined) throw ErrLeaseNotFound();
        // The keys go in one revision, in key order; deleting them detaches them from the lease.
        const record = kv.deleteKeys(this.store, this.leaseTable, [...lease.keys].sort());
        invariant(lease.keys.size === 0, 'a revoked lease holds no keys');
        this.leaseTable.revoke(cmd.req.id);
        this.emit(record);
        return { type: 'leaseRevoke', res: { revision: this.store.currentRevision } };
      }
      default:
        throw new Error(`coord: unknown command type ${(cmd as { type: unknown }).type as string}`);
    }
  }

  /** Records a log entry that carries no command (Raft's empty and configuration entries). */
  skip(index: number): void {
    this.consume(index);
  }

  range(req: RangeRequest): RangeResponse {
    return kv.range(this.store, req);
  }

  /**
   * A transaction that only reads, answered without a log entry (etcd serves these like a
   * Range): the same checks, compares and per-op answers as apply() would give it now.
   */
  readTxn(req: TxnRequest): TxnResponse {
    if (!kv.isReadOnlyTxn(req)) throw new Error('coord: readTxn given a txn that writes');
    const { res, record } = kv.txn(this.store, this.leaseTable, req, this.maxTxnOps);
    invariant(record === undefined, 'a read-only txn writes nothing');
    return res;
  }

  /** etcd's HashKV: a hash of the key-value history up to `revision` (0: now). */
  hashKv(revision: number): HashKvResult {
    return hashKv(this.store, revision);
  }

  /** etcd's Hash: a hash of everything the key space and the lease table hold. */
  hash(): number {
    return hashAll(this.store, this.leases());
  }

  /**
   * etcd's LeaseTimeToLive from the replicated side: granted TTL and keys. The remaining TTL is
   * the Lessor's (pass `remaining`, e.g. `id => lessor.remainingTtl(id, now)`); without it, or
   * when it does not know the lease, the granted TTL stands in. Unknown lease: ttl -1.
   */
  leaseTimeToLive(id: number, withKeys: boolean, remaining?: (id: number) => number): LeaseTimeToLiveResponse {
    const revision = this.store.currentRevision;
    const lease = this.leaseTable.get(id);
    if (lease === undefined) return { revision, id, ttl: -1, grantedTtl: 0, keys: [] };
    const left = remaining?.(id) ?? -1;
    return {
      revision,
      id,
      ttl: left >= 0 ? left : lease.ttl,
      grantedTtl: lease.ttl,
      keys: withKeys ? [...lease.keys].sort().map(keyBuffer) : [],
    };
  }

  /** Every lease with its granted TTL, by id. */
  leases(): { id: number; ttl: number }[] {
    return this.leaseTable.list().map((l) => ({ id: l.id, ttl: l.ttl }));
  }

  hasLease(id: number): boolean {
    return this.leaseTable.exists(id);
  }

  eventsAt(revision: number): readonly WatchEvent[] {
    return this.store.eventsAt(revision);
  }

  /** Subscribes to applied revisions (the watch hub's feed). Returns the unsubscribe function. */
  onRevision(listener: RevisionListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): Buffer {
    return encodeSnapshot({
      appliedIndex: this.applied,
      minLeaseTtl: this.leaseTable.minTtl,
      store: this.store,
      leases: this.leases(),
    });
  }

  /**
   * The snapshot of the state now, to be encoded later: captured at this call (cheap), encoded
   * step by step as the returned generator is driven (its return value is the snapshot). The
   * bytes equal snapshot()'s at this call, whatever is applied meanwhile.
   */
  snapshotSteps(): Generator<void, Buffer, void> {
    return encodeSteps(
      captureSnapshot({ appliedIndex: this.applied, minLeaseTtl: this.leaseTable.minTtl, store: this.store, leases: this.leases() }),
    );
  }

  static restore(buf: Buffer, options: Omit<CoordStateMachineOptions, 'minLeaseTtl'> = {}): CoordStateMachine {
    const state = decodeSnapshot(buf);
    const sm = new CoordStateMachine({ ...options, minLeaseTtl: state.minLeaseTtl });
    sm.store = state.store;
    sm.applied = state.appliedIndex;
    const table = new LeaseTable(state.minLeaseTtl);
    for (const { id, ttl } of state.leases) table.grant(id, ttl);
    for (const history of state.store.histories()) {
      const live = history.latest();
      if (live !== undefined && live.lease !== 0) table.attach(live.lease, keyString(live.key));
    }
    sm.leaseTable = table;
    return sm;
  }

  private consume(index: number): void {
    invariant(Number.isSafeInteger(index) && index > this.applied, `log index ${index} follows ${this.applied}`);
    this.applied = index;
  }

  private emit(record: RevisionRecord | undefined): void {
    if (record === undefined) return;
    for (const listener of this.listeners) listener(record);
  }
}
