// The queue shared by lock and election, as in etcd's concurrency package: each contender owns one
// key `<prefix><lease hex>` attached to its lease; the contender with the lowest create revision
// holds; the others each wait for the deletion of the key just before theirs (no thundering herd).
// Create revisions only grow, so holders succeed each other in strictly increasing create revision:
// that revision is the fencing token.
import type { Etcd3, IKeyValue } from 'etcd3';
import { isOutcomeUnknown } from './client.js';
import { NotHolderError, SessionLostError } from './errors.js';
import { contenderKey, prefixEnd } from './keys.js';
import type { Session } from './session.js';
import { firstEvent, watchFrom, type ResumableWatch } from './watch.js';

export interface Contender {
  key: string;
  createRevision: bigint;
  /** Store revision at which the key was read or written. */
  revision: bigint;
  /** The key already existed under this lease before this call's first attempt. */
  preexisting: boolean;
  kv: IKeyValue | undefined;
}

const ENQUEUE_ATTEMPTS = 3;

/**
 * Puts `<prefix><lease hex>` with the session's lease if absent, else reads it. The compare makes a
 * repeat harmless, so an outcome-unknown attempt is resolved by running it again: if the first
 * attempt created the key, the repeat takes the read branch and returns that key.
 */
export async function enqueue(client: Etcd3, prefix: string, session: Session, value: string): Promise<Contender> {
  const key = contenderKey(prefix, session.leaseId);
  const keyBuf = Buffer.from(key);
  let uncertain = false;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await client.kv.txn({
        compare: [{ key: keyBuf, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: keyBuf, value: Buffer.from(value), lease: session.leaseId } }],
        failure: [{ request_range: { key: keyBuf } }],
      });
      const revision = BigInt(res.header.revision);
      if (res.succeeded) return { key, createRevision: revision, revision, preexisting: false, kv: undefined };
      const kv = res.responses[0]?.response_range?.kvs[0];
      if (!kv) throw new Error(`txn on ${key} failed its create compare but the key is absent`);
      if (kv.lease !== session.leaseId) throw new Error(`${key} is attached to lease ${kv.lease}, not ${session.leaseId}`);
      return { key, createRevision: BigInt(kv.create_revision), revision, preexisting: !uncertain, kv };
    } catch (err) {
      if (!isOutcomeUnknown(err) || attempt >= ENQUEUE_ATTEMPTS) throw err;
      uncertain = true;
    }
  }
}

/**
 * Waits until no key under `prefix` has a create revision below `myRevision`, then checks that the
 * contender's own key still exists (its lease may have expired while it waited).
 */
export async function waitForTurn(
  client: Etcd3,
  prefix: string,
  own: Contender,
  signal: AbortSignal,
): Promise<bigint> {
  const start = Buffer.from(prefix);
  const end = prefixEnd(prefix);
  for (;;) {
    signal.throwIfAborted();
    const res = await client.kv.range({
      key: start,
      range_end: end,
      max_create_revision: String(own.createRevision - 1n),
      sort_order: 'Descend',
      sort_target: 'Create',
      limit: 1,
    });
    const predecessor = res.kvs[0];
    const revision = BigInt(res.header.revision);
    if (!predecessor) {
      const mine = await client.kv.range({ key: Buffer.from(own.key) });
      const kv = mine.kvs[0];
      if (!kv || BigInt(kv.create_revision) !== own.createRevision) {
        throw new SessionLostError(`${own.key} disappeared while waiting (its lease expired or was revoked)`);
      }
      return BigInt(mine.header.revision);
    }
    // Only the predecessor's deletion can let us move up; then read again, since another key
    // below ours may still exist.
    await firstEvent(client, { key: predecessor.key.toString(), startRevision: revision + 1n, only: 'delete' }, signal);
  }
}

/** Deletes the contender's key if it is still this contender's (same create revision). */
export async function withdraw(client: Etcd3, own: Pick<Contender, 'key' | 'createRevision'>): Promise<boolean> {
  const keyBuf = Buffer.from(own.key);
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await client.kv.txn({
        compare: [{ key: keyBuf, target: 'Create', result: 'Equal', create_revision: String(own.createRevision) }],
        success: [{ request_delete_range: { key: keyBuf } }],
        failure: [],
      });
      return res.succeeded;
    } catch (err) {
      // Repeating a guarded delete is harmless: the repeat finds the key gone and does nothing.
      if (!isOutcomeUnknown(err) || attempt >= ENQUEUE_ATTEMPTS) throw err;
    }
  }
}

/**
 * Tracks whether a holder still holds: its session is alive, it has not given up, and its key has
 * not been deleted (by lease expiry, revocation, or anyone else). `lost` aborts on the first of these.
 */
export class Holding {
  readonly lost: AbortSignal;
  private readonly controller = new AbortController();
  private watch: ResumableWatch | undefined;
  private readonly onSessionLost: () => void;

  private constructor(readonly session: Session, readonly key: string, readonly createRevision: bigint) {
    this.lost = this.controller.signal;
    this.onSessionLost = () => this.drop(session.lost.reason as Error);
    session.lost.addEventListener('abort', this.onSessionLost, { once: true });
  }

  /** Starts watching the key for deletion from `verifiedAt + 1`: the revision at which it was seen held. */
  static async start(client: Etcd3, session: Session, own: Contender, verifiedAt: bigint): Promise<Holding> {
    const holding = new Holding(session, own.key, own.createRevision);
    if (session.lost.aborted) {
      holding.drop(session.lost.reason as Error);
      return holding;
    }
    try {
      holding.watch = await watchFrom(client, { key: own.key, startRevision: verifiedAt + 1n, only: 'delete' }, {
        onEvents: () => holding.drop(new NotHolderError(`${own.key} was deleted`)),
        onCancelled: (err) => holding.drop(new NotHolderError(`lost track of ${own.key}: ${err.message}`)),
      });
    } catch (err) {
      holding.drop(new NotHolderError(`could not watch ${own.key}: ${(err as Error).message}`));
    }
    return holding;
  }

  /** True while the key is ours and the lease is known to be alive (by the local clock, too). */
  isHeld(): boolean {
    return !this.lost.aborted && this.session.isAlive();
  }

  assertHeld(what: string): void {
    if (!this.isHeld()) {
      const reason = this.lost.reason as Error | undefined;
      throw new NotHolderError(`${what}: no longer held${reason ? ` (${reason.message})` : ''}`);
    }
  }

  drop(reason: Error): void {
    this.session.lost.removeEventListener('abort', this.onSessionLost);
    if (!this.lost.aborted) this.controller.abort(reason);
    const watch = this.watch;
    this.watch = undefined;
    void watch?.cancel().catch(() => undefined);
  }
}

/** An AbortSignal that fires on any of `signals`, or after `timeoutMs` with `onTimeout()` as reason. */
export function combineSignals(
  signals: Array<AbortSignal | undefined>,
  timeoutMs: number | undefined,
  onTimeout: () => Error,
): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const cleanups: Array<() => void> = [];
  for (const s of signals) {
    if (!s) continue;
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    const handler = (): void => controller.abort(s.reason);
    s.addEventListener('abort', handler, { once: true });
    cleanups.push(() => s.removeEventListener('abort', handler));
  }
  if (timeoutMs !== undefined && !controller.signal.aborted) {
    const timer = setTimeout(() => controller.abort(onTimeout()), timeoutMs);
    cleanups.push(() => clearTimeout(timer));
  }
  return { signal: controller.signal, dispose: () => cleanups.forEach((c) => c()) };
}
