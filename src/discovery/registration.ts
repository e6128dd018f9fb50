// One instance's record in the store, kept there by a lease (recipes' Session: keep-alive every
// TTL/3, loss noticed from a keep-alive answered with TTL 0 or from no confirmation within the
// TTL). Every write is a txn of puts under the current lease, serialized per registration.
//
// No write is retried blindly: createCoordClient turns a failed write whose outcome is unknown
// into OutcomeUnknownError, and the registration resolves it by reading the key: the write took
// effect iff the key holds exactly the bytes written under this lease. Only if it did not is the
// write sent again — and a late first attempt then stores the same bytes under the same lease,
// which no reader can tell from one write (the view ignores identical rewrites).
//
// Loss: when the lease is gone (expired during a partition) or can no longer be confirmed, the
// onLost listeners run and the registration re-registers by itself: a new lease, then record
// and witness written under it (which also moves them off the old lease if that one still
// lives), then the old lease is revoked. Retried with capped backoff until it works or the
// registration is deregistered.
import type { Etcd3, IRequestOp } from 'etcd3';
import type { Logger } from 'pino';
import { isOutcomeUnknown, Session } from '../recipes/index.js';
import type { InstanceRecord, Registration } from './types.js';
import { recordKey, witnessKey, WITNESS_DEREGISTERED, WITNESS_LIVE } from './keys.js';
import { encodeRecord, validatePatch, validateRecord, type RecordPatch } from './record.js';

/** A registration as the registry hands it out: the contract plus what a host process may need. */
export interface ActiveRegistration extends Registration {
  /** The lease the record lives under now (decimal; it changes after a re-registration). */
  readonly leaseId: string;
  /** Re-registrations done after a lost lease. */
  readonly reregistrations: number;
  /**
   * Stops keep-alives and every further write without deleting anything: the record goes when
   * its lease expires, as for a killed process. For a hard exit and for tests.
   */
  abandon(): void;
}

const WRITE_ATTEMPTS = 3;
const REREGISTER_BACKOFF_MS = 100;
const MAX_REREGISTER_BACKOFF_MS = 2000;

export class InstanceRegistration implements ActiveRegistration {
  private current: InstanceRecord;
  private session: Session;
  private state: 'active' | 'deregistering' | 'gone' = 'active';
  /** Writes run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly lostListeners = new Set<() => void>();
  private deregistering: Promise<void> | undefined;
  private wakeBackoff: (() => void) | undefined;
  private reregisterCount = 0;
  /** Sessions whose loss was announced: a keep-alive and an update may both notice one loss. */
  private readonly announced = new WeakSet<Session>();

  private constructor(
    private readonly client: Etcd3,
    private readonly logger: Logger,
    private readonly ttlSeconds: number,
    record: InstanceRecord,
    session: Session,
    private readonly onGone: (r: InstanceRegistration) => void,
  ) {
    this.current = record;
    this.session = session;
    this.followLoss(session);
  }

  static async create(
    client: Etcd3,
    logger: Logger,
    record: InstanceRecord,
    ttlSeconds: number,
    onGone: (r: InstanceRegistration) => void,
  ): Promise<InstanceRegistration> {
    const session = await Session.create(client, { ttlSeconds });
    try {
      await writeInstance(client, session.leaseId, record, true);
    } catch (err) {
      await dropSession(client, session);
      throw err;
    }
    logger.info({ id: record.id, service: record.service, version: record.version, lease: session.leaseId }, 'discovery: registered');
    return new InstanceRegistration(client, logger, ttlSeconds, record, session, onGone);
  }

  get record(): InstanceRecord {
    return this.current;
  }

  get leaseId(): string {
    return this.session.leaseId;
  }

  get reregistrations(): number {
    return this.reregisterCount;
  }

  async update(patch: RecordPatch): Promise<void> {
    const valid = validatePatch(patch);
    if (this.state !== 'active') throw new Error(`instance ${this.current.id} is deregistered`);
    // The newest wanted record: a re-registration that runs first writes it too.
    this.current = validateRecord({ ...this.current, ...valid });
    await this.serially(async () => {
      if (this.state !== 'active') throw new Error(`instance ${this.current.id} was deregistered before the update was written`);
      try {
        await writeInstance(this.client, this.session.leaseId, this.current, false);
      } catch (err) {
        if (!isLeaseNotFound(err)) throw err;
        // The lease expired before its keep-alive told us: same as a loss noticed there.
        const lost = this.session;
        if (!this.announced.has(lost)) this.announceLoss(lost, 'an update found the lease gone');
        await this.reregister(lost);
      }
    });
  }

  deregister(): Promise<void> {
    if (this.state === 'gone') return Promise.resolve();
    if (this.deregistering) return this.deregistering;
    this.state = 'deregistering';
    this.wakeBackoff?.();
    const run = (async () => {
      await this.chain.catch(() => undefined); // a running write or re-registration ends first
      const session = this.session;
      session.abandon(); // no more keep-alives; its 'lost' is ignored from now on
      const ops: IRequestOp[] = [
        { request_put: { key: Buffer.from(witnessKey(this.current)), value: Buffer.from(WITNESS_DEREGISTERED), lease: session.leaseId } },
        { request_delete_range: { key: Buffer.from(recordKey(this.current)) } },
      ];
      try {
        await this.client.kv.txn({ compare: [], success: ops, failure: [] });
      } catch (err) {
        // Not fatal: revoking the lease below removes the record anyway (views then say 'lease-expired').
        if (!isLeaseNotFound(err)) this.logger.warn({ err: String(err), id: this.current.id }, 'discovery: deregistration mark not written');
      }
      await revokeLease(this.client, session.leaseId);
      this.state = 'gone';
      this.onGone(this);
      this.logger.info({ id: this.current.id, lease: session.leaseId }, 'discovery: deregistered');
    })();
    // A failed deregistration may be called again; the lease expires on its own meanwhile.
    this.deregistering = run.catch((err: unknown) => {
      this.deregistering = undefined;
      throw err;
    });
    return this.deregistering;
  }

  abandon(): void {
    if (this.state === 'gone') return;
    this.state = 'gone';
    this.wakeBackoff?.();
    this.session.abandon();
    this.onGone(this);
  }

  onLost(listener: () => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  private followLoss(session: Session): void {
    session.lost.addEventListener('abort', () => {
      if (this.state !== 'active' || session !== this.session || this.announced.has(session)) return;
      this.announceLoss(session, String((session.lost.reason as Error | undefined)?.message ?? 'lease lost'));
      void this.serially(() => this.reregister(session)).catch(() => undefined);
    }, { once: true });
  }

  private announceLoss(session: Session, why: string): void {
    this.announced.add(session);
    this.logger.warn({ id: this.current.id, lease: session.leaseId, why }, 'discovery: lease lost; re-registering');
    for (const listener of this.lostListeners) {
      try {
        listener();
      } catch (err) {
        this.logger.error({ err }, 'discovery: an onLost listener threw');
      }
    }
  }

  /** New lease, record and witness under it, old lease revoked; retried until done or deregistered. */
  private async reregister(old: Session): Promise<void> {
    if (this.session !== old) return; // already replaced (an update and a keep-alive both saw the loss)
    for (let attempt = 0; this.state === 'active'; attempt++) {
      let fresh: Session | undefined;
      try {
        fresh = await Session.create(this.client, { ttlSeconds: this.ttlSeconds });
        if (this.state !== 'active') {
          await dropSession(this.client, fresh);
          return;
        }
        await writeInstance(this.client, fresh.leaseId, this.current, true);
        this.session = fresh;
        this.followLoss(fresh);
        this.reregisterCount++;
        await dropSession(this.client, old);
        this.logger.info({ id: this.current.id, lease: fresh.leaseId, previous: old.leaseId }, 'discovery: re-registered');
        return;
      } catch (err) {
        if (fresh && fresh !== this.session) await dropSession(this.client, fresh);
        this.logger.warn({ err: String(err), id: this.current.id, attempt: attempt + 1 }, 'discovery: re-registration failed; retrying');
        await this.backoff(Math.random() * Math.min(MAX_REREGISTER_BACKOFF_MS, REREGISTER_BACKOFF_MS * 2 ** attempt));
      }
    }
  }

  private backoff(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeBackoff = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wakeBackoff = done;
    });
  }

  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.catch(() => undefined).then(task);
    this.chain = run;
    return run;
  }
}

/** Writes the record (and with `withWitness` its live witness) under `leaseId`, resolving an unknown outcome by reading. */
async function writeInstance(client: Etcd3, leaseId: string, record: InstanceRecord, withWitness: boolean): Promise<void> {
  const key = Buffer.from(recordKey(record));
  const value = encodeRecord(record);
  const ops: IRequestOp[] = [{ request_put: { key, value: Buffer.from(value), lease: leaseId } }];
  if (withWitness) ops.push({ request_put: { key: Buffer.from(witnessKey(record)), value: Buffer.from(WITNESS_LIVE), lease: leaseId } });
  for (let attempt = 1; ; attempt++) {
    try {
      await client.kv.txn({ compare: [], success: ops, failure: [] });
      return;
    } catch (err) {
      if (!isOutcomeUnknown(err) || attempt >= WRITE_ATTEMPTS) throw err;
      // Both puts are one txn: the record holding these bytes under this lease proves it applied.
      const res = await client.kv.range({ key });
      const kv = res.kvs[0];
      if (kv !== undefined && kv.lease === leaseId && kv.value.toString() === value) return;
    }
  }
}

async function revokeLease(client: Etcd3, leaseId: string): Promise<void> {
  try {
    await client.leaseClient.leaseRevoke({ ID: leaseId });
  } catch (err) {
    if (!isLeaseNotFound(err)) throw err; // gone already: expired, or a retried revoke whose first attempt landed
  }
}

/** Stops a session's keep-alives and revokes its lease, best effort (it expires on its own otherwise). */
async function dropSession(client: Etcd3, session: Session): Promise<void> {
  session.abandon();
  await revokeLease(client, session.leaseId).catch(() => undefined);
}

function isLeaseNotFound(err: unknown): boolean {
  return err instanceof Error && /requested lease not found/.test(err.message);
}
