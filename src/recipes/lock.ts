// Distributed lock with a fencing token, under /shoal/locks/<name>/.
//
// A lock is a lease-backed contender key (see contender.ts). The fencing token is that key's
// create revision: strictly increasing from one holder to the next, so a resource that remembers
// the highest token it has seen can refuse a holder that was paused past its lease and does not
// know it lost the lock. `isHeld()` turns false as soon as the key is deleted or the lease is (or,
// by the local clock, may be) gone; `lost` fires at the same moment.
import type { Etcd3 } from 'etcd3';
import { combineSignals, enqueue, Holding, waitForTurn, withdraw, type Contender } from './contender.js';
import { AcquireTimeoutError } from './errors.js';
import { lockPrefix } from './keys.js';
import { Session } from './session.js';

export interface AcquireLockOptions {
  /** TTL of the lease created for this lock when no `session` is given. Default 10 s. */
  ttlSeconds?: number;
  /** Hold the lock under an existing session (its lease); release() then leaves the session open. */
  session?: Session;
  /** Give up waiting after this many ms with AcquireTimeoutError. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class HeldLock {
  /** Aborted, with the reason, when the lock is lost or released. */
  readonly lost: AbortSignal;

  constructor(
    private readonly client: Etcd3,
    readonly name: string,
    /** The contender key, `/shoal/locks/<name>/<lease hex>`. */
    readonly key: string,
    /** Create revision of the key: strictly increasing across successive holders. */
    readonly fencingToken: bigint,
    readonly session: Session,
    private readonly holding: Holding,
    private readonly ownsSession: boolean,
  ) {
    this.lost = holding.lost;
  }

  /** True while this process can be sure it holds the lock. */
  isHeld(): boolean {
    return this.holding.isHeld();
  }

  /** Throws NotHolderError if the lock is no longer held. */
  assertHeld(): void {
    this.holding.assertHeld(`lock ${this.name}`);
  }

  /** Deletes the key (only if it is still this holder's); revokes the lease if the lock created it. */
  async release(): Promise<void> {
    this.holding.drop(new Error(`lock ${this.name} released`));
    if (this.ownsSession) await this.session.close();
    else await withdraw(this.client, { key: this.key, createRevision: this.fencingToken });
  }
}

export async function acquireLock(client: Etcd3, name: string, opts: AcquireLockOptions = {}): Promise<HeldLock> {
  const prefix = lockPrefix(name);
  const ownsSession = opts.session === undefined;
  const session = opts.session ?? (await Session.create(client, { ttlSeconds: opts.ttlSeconds ?? 10, signal: opts.signal }));
  const wait = combineSignals([opts.signal, session.lost], opts.timeoutMs,
    () => new AcquireTimeoutError(`lock ${name}: not acquired within ${opts.timeoutMs} ms`));
  let own: Contender | undefined;
  try {
    own = await enqueue(client, prefix, session, '');
    if (own.preexisting) {
      own = undefined; // the key belongs to another acquire on this session: leave it alone
      throw new Error(`lock ${name}: session ${session.leaseIdHex} already holds or waits for this lock`);
    }
    const verifiedAt = await waitForTurn(client, prefix, own, wait.signal);
    const holding = await Holding.start(client, session, own, verifiedAt);
    return new HeldLock(client, name, own.key, own.createRevision, session, holding, ownsSession);
  } catch (err) {
    // Leave the queue so we block no one: the key is deleted with the lease, or by itself.
    try {
      if (ownsSession) await session.close();
      else if (own) await withdraw(client, own);
    } catch {
      // The lease's TTL removes the key anyway; the original failure is what the caller needs.
    }
    throw wait.signal.aborted && wait.signal.reason instanceof Error ? wait.signal.reason : err;
  } finally {
    wait.dispose();
  }
}

/** Runs `fn` while holding the lock; `fn` gets the lock to pass its fencing token on and to check `lost`. */
export async function withLock<T>(
  client: Etcd3,
  name: string,
  fn: (lock: HeldLock) => Promise<T>,
  opts: AcquireLockOptions = {},
): Promise<T> {
  const lock = await acquireLock(client, name, opts);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
