// Leader election under /shoal/elections/<name>/, on the key layout of etcd's concurrency
// Election: each candidate puts `<prefix><lease hex>` = its proclaimed value under its lease; the
// candidate with the lowest create revision leads. Resigning deletes the key; a dead leader's key
// goes with its lease; the next candidate in line then leads. Observers read the prefix once and
// follow it with a watch from that read's revision, so they see every change of leader and value.
import type { Etcd3, IEvent, IKeyValue } from 'etcd3';
import { isOutcomeUnknown } from './client.js';
import { combineSignals, enqueue, Holding, waitForTurn, withdraw, type Contender } from './contender.js';
import { AcquireTimeoutError, NotHolderError } from './errors.js';
import { electionPrefix, prefixEnd } from './keys.js';
import { Session } from './session.js';
import { watchFrom, type ResumableWatch } from './watch.js';

export interface LeaderInfo {
  key: string;
  value: string;
  createRevision: bigint;
  modRevision: bigint;
  /** Decimal lease id. */
  lease: string;
}

export interface CampaignOptions {
  ttlSeconds?: number;
  session?: Session;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const PROCLAIM_ATTEMPTS = 3;

export class Election {
  readonly prefix: string;

  constructor(private readonly client: Etcd3, readonly name: string) {
    this.prefix = electionPrefix(name);
  }

  /** Waits until this candidate leads, proclaiming `value`. */
  async campaign(value: string, opts: CampaignOptions = {}): Promise<Leadership> {
    const ownsSession = opts.session === undefined;
    const session = opts.session ?? (await Session.create(this.client, { ttlSeconds: opts.ttlSeconds ?? 10, signal: opts.signal }));
    const wait = combineSignals([opts.signal, session.lost], opts.timeoutMs,
      () => new AcquireTimeoutError(`election ${this.name}: not elected within ${opts.timeoutMs} ms`));
    let own: Contender | undefined;
    try {
      own = await enqueue(this.client, this.prefix, session, value);
      // Campaigning again on the same session keeps the place in line, with the new value (as etcd does).
      if (own.kv && own.kv.value.toString() !== value) await proclaimAs(this.client, own, session, value);
      const verifiedAt = await waitForTurn(this.client, this.prefix, own, wait.signal);
      const holding = await Holding.start(this.client, session, own, verifiedAt);
      return new Leadership(this.client, this.name, own, session, holding, ownsSession);
    } catch (err) {
      try {
        if (ownsSession) await session.close();
        else if (own) await withdraw(this.client, own);
      } catch {
        // The lease's TTL removes the key anyway.
      }
      throw wait.signal.aborted && wait.signal.reason instanceof Error ? wait.signal.reason : err;
    } finally {
      wait.dispose();
    }
  }

  /** The current leader, or undefined when nobody campaigns. */
  async leader(): Promise<LeaderInfo | undefined> {
    const res = await this.client.kv.range({
      key: Buffer.from(this.prefix),
      range_end: prefixEnd(this.prefix),
      sort_order: 'Ascend',
      sort_target: 'Create',
      limit: 1,
    });
    return res.kvs[0] ? toLeader(res.kvs[0]) : undefined;
  }

  /**
   * Calls `onLeader` with the current leader, then on every change of leader or of its value
   * (undefined while nobody leads), in order. Close the observer to stop.
   */
  async observe(onLeader: (leader: LeaderInfo | undefined) => void): Promise<ElectionObserver> {
    const observer = new ElectionObserver(this.client, this.prefix, onLeader);
    await observer.start();
    return observer;
  }
}

export class ElectionObserver {
  private readonly candidates = new Map<string, IKeyValue>();
  private watch: ResumableWatch | undefined;
  private last: LeaderInfo | undefined | null = null; // null: nothing reported yet
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly onLeader: (leader: LeaderInfo | undefined) => void,
  ) {}

  async start(): Promise<void> {
    const res = await this.client.kv.range({ key: Buffer.from(this.prefix), range_end: prefixEnd(this.prefix) });
    this.candidates.clear();
    for (const kv of res.kvs) this.candidates.set(kv.key.toString(), kv);
    this.report();
    this.watch = await watchFrom(this.client, { key: this.prefix, prefix: true, startRevision: BigInt(res.header.revision) + 1n }, {
      onEvents: (events) => this.apply(events),
      // History compacted under us: read again and go on from the fresh read.
      onCancelled: () => { if (!this.closed) void this.start().catch(() => undefined); },
    });
  }

  current(): LeaderInfo | undefined {
    return this.last ?? undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watch?.cancel();
  }

  private apply(events: IEvent[]): void {
    for (const ev of events) {
      const key = ev.kv.key.toString();
      if (ev.type === 'Put') this.candidates.set(key, ev.kv);
      else this.candidates.delete(key);
    }
    this.report();
  }

  private report(): void {
    if (this.closed) return;
    let first: IKeyValue | undefined;
    for (const kv of this.candidates.values()) {
      if (!first || BigInt(kv.create_revision) < BigInt(first.create_revision)) first = kv;
    }
    const leader = first ? toLeader(first) : undefined;
    const prev = this.last;
    const changed = prev === null
      || (prev === undefined) !== (leader === undefined)
      || (prev !== undefined && leader !== undefined && (prev.key !== leader.key || prev.modRevision !== leader.modRevision));
    if (!changed) return;
    this.last = leader;
    this.onLeader(leader);
  }
}

export class Leadership {
  readonly key: string;
  /** Create revision of the leader key: increases with every new leadership term. */
  readonly createRevision: bigint;
  /** Aborted, with the reason, when leadership is lost or given up. */
  readonly lost: AbortSignal;

  constructor(
    private readonly client: Etcd3,
    readonly name: string,
    own: Contender,
    readonly session: Session,
    private readonly holding: Holding,
    private readonly ownsSession: boolean,
  ) {
    this.key = own.key;
    this.createRevision = own.createRevision;
    this.lost = holding.lost;
  }

  isLeader(): boolean {
    return this.holding.isHeld();
  }

  /** Publishes a new value as leader; NotHolderError if this candidate no longer leads. */
  async proclaim(value: string): Promise<void> {
    this.holding.assertHeld(`election ${this.name}`);
    await proclaimAs(this.client, { key: this.key, createRevision: this.createRevision }, this.session, value);
  }

  /** Steps down: deletes the leader key; revokes the lease if the campaign created it. */
  async resign(): Promise<void> {
    this.holding.drop(new Error(`resigned from election ${this.name}`));
    if (this.ownsSession) await this.session.close();
    else await withdraw(this.client, { key: this.key, createRevision: this.createRevision });
  }
}

async function proclaimAs(
  client: Etcd3,
  own: Pick<Contender, 'key' | 'createRevision'>,
  session: Session,
  value: string,
): Promise<void> {
  const keyBuf = Buffer.from(own.key);
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await client.kv.txn({
        compare: [{ key: keyBuf, target: 'Create', result: 'Equal', create_revision: String(own.createRevision) }],
        success: [{ request_put: { key: keyBuf, value: Buffer.from(value), lease: session.leaseId } }],
        failure: [],
      });
      if (!res.succeeded) throw new NotHolderError(`${own.key} is gone: not the leader any more`);
      return;
    } catch (err) {
      // Putting the same value again under the same guard is harmless, so an unknown outcome is
      // settled by repeating it.
      if (!isOutcomeUnknown(err) || attempt >= PROCLAIM_ATTEMPTS) throw err;
    }
  }
}

function toLeader(kv: IKeyValue): LeaderInfo {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: BigInt(kv.create_revision),
    modRevision: BigInt(kv.mod_revision),
    lease: kv.lease,
  };
}
