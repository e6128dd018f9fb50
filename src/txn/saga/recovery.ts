// The recovery loop: while this instance holds the recovery lock on the coordinator, it scans the
// saga log for open sagas whose claim expired and resumes them. The lock only keeps recoverers
// from scanning side by side; mutual exclusion on one saga comes from the conditional claim in
// the log itself, so a recoverer that loses the lock mid-drive stays correct.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { acquireLock } from '../../recipes/index.js';

/** What the loop needs of a lock; the recipes' HeldLock is one. */
export interface RecoveryLock {
  /** Aborted when the lock is lost or released. */
  readonly lost: AbortSignal;
  isHeld(): boolean;
  release(): Promise<void>;
}

export interface RecoveryOptions {
  /** Coordinator client for the default lock (`acquireLock` under `/shoal/locks/saga-recovery/<name>/`). */
  etcd?: Etcd3;
  /** Or any lock factory (tests, other coordination). */
  lock?: (signal: AbortSignal) => Promise<RecoveryLock>;
  /** The lock's last path segment: the orchestrating service (or kind). Default 'default'. */
  name?: string;
  /** TTL of the default lock's lease. Default 10 s. */
  lockTtlSeconds?: number;
  /** Pause between scans while holding the lock. Default 1 s. */
  scanIntervalMs?: number;
}

export const SAGA_RECOVERY_LOCK_PREFIX = 'saga-recovery';

interface LoopHooks {
  logger: Logger;
  /** Aborted when the orchestrator closes. */
  closed: AbortSignal;
  scan(): Promise<void>;
  backoff(attempt: number): number;
}

export function runRecoveryLoop(options: RecoveryOptions, hooks: LoopHooks): () => Promise<void> {
  const name = `${SAGA_RECOVERY_LOCK_PREFIX}/${options.name ?? 'default'}`;
  const acquire = options.lock ?? lockOnCoordinator(options.etcd, name, options.lockTtlSeconds ?? 10);
  const scanIntervalMs = options.scanIntervalMs ?? 1_000;
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, hooks.closed]);
  const logger = hooks.logger.child({ recoveryLock: name });

  const loop = (async () => {
    let failures = 0;
    while (!signal.aborted) {
      let lock: RecoveryLock;
      try {
        lock = await acquire(signal);
      } catch (err) {
        if (signal.aborted) break;
        logger.warn({ err: errorText(err) }, 'saga recovery: could not take the lock; retrying');
        await pause(hooks.backoff(++failures), signal);
        continue;
      }
      failures = 0;
      logger.info('saga recovery: lock held, scanning');
      const holding = AbortSignal.any([signal, lock.lost]);
      try {
        while (!holding.aborted && lock.isHeld()) {
          try {
            await hooks.scan();
          } catch (err) {
            logger.error({ err: errorText(err) }, 'saga recovery: scan failed');
          }
          await pause(scanIntervalMs, holding);
        }
      } finally {
        await lock.release().catch((err: unknown) => logger.warn({ err: errorText(err) }, 'saga recovery: lock release failed'));
      }
      if (!signal.aborted) logger.warn('saga recovery: lock lost');
    }
  })();

  return async () => {
    stop.abort();
    await loop;
  };
}

function lockOnCoordinator(etcd: Etcd3 | undefined, name: string, ttlSeconds: number): (signal: AbortSignal) => Promise<RecoveryLock> {
  if (etcd === undefined) throw new TypeError('startRecovery needs an etcd client or a lock factory');
  return (signal) => acquireLock(etcd, name, { ttlSeconds, signal });
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
