// The saga orchestrator (DESIGN section 5): runs a saga's steps in order through the call
// pipeline, compensates in reverse order after a business failure, and records every transition
// in the saga log of the orchestrating service's own database so that any instance can resume a
// saga whose driver crashed. Learned from Seata's saga mode (a persisted state machine resumed by
// a recoverer, compensations retried until they succeed) and dtm (branch retries are safe because
// participants put every branch behind a barrier).
import { randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';
import type { Logger } from 'pino';
import { ShoalError, toShoalError } from '../../errors/index.js';
import type { Caller } from '../../runtime/index.js';
import { isValidTxnId } from '../barrier/index.js';
import type { SagaResult, SagaSpec, SagaStep } from '../types.js';
import { isTerminal, resultOf, SagaLog, type SagaRow, type SagaStatus, type StoredSpec } from './log.js';
import { backoffDelay, canonicalJson, classifyFailure, type BackoffPolicy } from './policy.js';
import { runRecoveryLoop, type RecoveryOptions } from './recovery.js';

export const SagaErrorCode = {
  /** The gid is already used by a saga with other steps or another kind. */
  SAGA_CONFLICT: 'SAGA_CONFLICT',
  /** The orchestrator was closed; the saga stays in the log and is resumed by recovery. */
  SAGA_ORCHESTRATOR_CLOSED: 'SAGA_ORCHESTRATOR_CLOSED',
} as const;

export type SagaFinishedHandler = (result: SagaResult, payload: Record<string, unknown>, trx: BetterSqlite3.Database) => void;

export interface SagaOrchestratorOptions {
  /** The orchestrating service's own database; the saga log lives here (migrateSagaSqlite first). */
  db: BetterSqlite3.Database;
  caller: Caller;
  instanceId: string;
  logger: Logger;
  /** Between tries of a branch call. Default 50 ms doubling up to 5 s. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Tries of a forward step on transient failures before compensating. Default 5. */
  actionAttempts?: number;
  /** Per branch call. Default 10 s. */
  stepTimeoutMs?: number;
  /** How long a claim on a saga lasts without renewal. Default 5 s. */
  leaseMs?: number;
  /** Renewal period of a claim while a call is in flight. Default leaseMs / 3. */
  renewEveryMs?: number;
  /** How often run() looks at a saga another driver holds. Default min(leaseMs / 5, 200) ms. */
  pollMs?: number;
  now?: () => number;
  random?: () => number;
  /**
   * Runs each write of the log (synchronous; it must be atomic and durable once the promise
   * resolves). Default: at once, in autocommit, refused inside another open transaction on the
   * handle. A service with a group committer passes its own (e.g. ServiceDb's
   * `(fn) => db.transaction(() => fn())`): then many sagas' log writes share one commit, and no
   * write lands inside someone else's transaction.
   */
  exclusive?: <T>(fn: () => T) => Promise<T>;
}

/** Thrown inside a driver that no longer holds its saga: it stops at once. */
class LostClaim extends Error {
  constructor(readonly gid: string) {
    super(`saga ${gid}: claim lost`);
  }
}

interface Drive {
  gid: string;
  spec: StoredSpec;
  /** Aborted when the claim is lost or the orchestrator closes: ends backoff waits. */
  readonly stop: AbortController;
  lost: boolean;
  heartbeat?: NodeJS.Timeout;
}

const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 50, maxMs: 5_000 };

export class SagaOrchestrator {
  /** Unique per orchestrator object: a restarted process with the same instance id is another owner. */
  readonly owner: string;
  readonly #db: BetterSqlite3.Database;
  readonly #log: SagaLog;
  readonly #caller: Caller;
  readonly #logger: Logger;
  readonly #backoff: BackoffPolicy;
  readonly #actionAttempts: number;
  readonly #stepTimeoutMs: number;
  readonly #leaseMs: number;
  readonly #renewEveryMs: number;
  readonly #pollMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #exclusive: <T>(fn: () => T) => Promise<T>;
  readonly #handlers = new Map<string, SagaFinishedHandler>();
  /** Sagas this object drives or awaits; null = the drive lost its claim to another owner. */
  readonly #inflight = new Map<string, Promise<SagaResult | null>>();
  readonly #drives = new Set<Drive>();
  /** Gids record()ed by this object that no run() has taken up yet. */
  readonly #recorded = new Set<string>();
  readonly #closed = new AbortController();

  constructor(options: SagaOrchestratorOptions) {
    this.#db = options.db;
    this.#log = new SagaLog(options.db);
    this.#caller = options.caller;
    this.owner = `${options.instanceId}/${randomUUID().slice(0, 8)}`;
    this.#logger = options.logger.child({ component: 'saga', owner: this.owner });
    this.#backoff = { baseMs: options.backoff?.baseMs ?? DEFAULT_BACKOFF.baseMs, maxMs: options.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs };
    this.#actionAttempts = options.actionAttempts ?? 5;
    this.#stepTimeoutMs = options.stepTimeoutMs ?? 10_000;
    this.#leaseMs = options.leaseMs ?? 5_000;
    this.#renewEveryMs = options.renewEveryMs ?? Math.max(1, Math.floor(this.#leaseMs / 3));
    this.#pollMs = options.pollMs ?? Math.max(1, Math.min(200, Math.floor(this.#leaseMs / 5)));
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    // A log write inside someone else's open transaction on this connection would commit or roll
    // back with it (better-sqlite3 nests as a savepoint): the default refuses rather than lose a
    // transition; a given `exclusive` is trusted to run fn in a transaction of its own.
    this.#exclusive =
      options.exclusive ??
      (async <T>(fn: () => T): Promise<T> => {
        if (this.#db.inTransaction) throw new Error('saga log write inside another open transaction on its connection: pass options.exclusive');
        return fn();
      });
    if (!(this.#actionAttempts >= 1)) throw new RangeError('actionAttempts must be >= 1');
    if (!(this.#backoff.baseMs >= 0 && this.#backoff.maxMs >= this.#backoff.baseMs)) throw new RangeError('backoff needs 0 <= baseMs <= maxMs');
    if (!(this.#leaseMs > 0 && this.#renewEveryMs < this.#leaseMs)) throw new RangeError('need 0 < renewEveryMs < leaseMs');
  }

  /**
   * Called synchronously inside the transaction that records a saga of this kind as committed or
   * aborted (on the original run and on a recovered one alike). A throw rolls the terminal write
   * back: the saga stays open and is finished again after its lease expires.
   */
  onFinished(kind: string, handler: SagaFinishedHandler): void {
    if (this.#handlers.has(kind)) throw new Error(`saga kind ${kind} already has an onFinished handler`);
    this.#handlers.set(kind, handler);
  }

  /** Runs the saga to its end; the same gid again gives that saga's result, never a second run. */
  async run(spec: SagaSpec): Promise<SagaResult> {
    this.#assertOpen();
    assertSpec(spec);
    const mine = this.#inflight.get(spec.gid);
    if (mine !== undefined) {
      this.#assertSameSaga(spec, this.#log.get(spec.gid));
      return this.#settle(spec.gid, mine);
    }
    const known = this.#log.get(spec.gid);
    if (this.#recorded.delete(spec.gid) && known !== undefined && known.owner === this.owner && !isTerminal(known.status)) {
      // Recorded by this object (record(), in the caller's transaction) and not driven yet.
      this.#assertSameSaga(spec, known);
      return this.#settle(spec.gid, this.#track(spec.gid, () => this.#drive(spec.gid)));
    }
    const now = this.#now();
    const inserted = known === undefined && (await this.#exclusive(() => this.#log.insert(spec, this.owner, now + this.#leaseMs, iso(now))));
    if (inserted) {
      this.#logger.debug({ gid: spec.gid, kind: spec.kind, steps: spec.steps.length }, 'saga started');
      return this.#settle(spec.gid, this.#track(spec.gid, () => this.#drive(spec.gid)));
    }
    // Not inserted: the row existed already, or another process inserted it just now.
    this.#assertSameSaga(spec, known ?? this.#log.get(spec.gid));
    return this.#settle(spec.gid, this.#inflight.get(spec.gid) ?? this.#track(spec.gid, () => this.#awaitOrTake(spec.gid)));
  }

  /**
   * Records a new saga inside the caller's open transaction on this database — the one that
   * creates what the saga is for (an order) — claimed by this orchestrator, so both commit
   * together and no crash can leave one without the other. `run(spec)` after that commit drives
   * it; if this process dies first, recovery claims it once the lease runs out. False if the gid
   * exists already (then nothing was written).
   */
  record(spec: SagaSpec): boolean {
    this.#assertOpen();
    assertSpec(spec);
    if (!this.#db.inTransaction) throw new Error('SagaOrchestrator.record must run inside an open transaction on its database');
    const now = this.#now();
    const inserted = this.#log.insert(spec, this.owner, now + this.#leaseMs, iso(now));
    if (inserted) {
      this.#recorded.add(spec.gid);
      this.#logger.debug({ gid: spec.gid, kind: spec.kind, steps: spec.steps.length }, 'saga recorded');
    }
    return inserted;
  }

  /**
   * One recovery pass: claims every open saga whose lease has expired and drives each to its end.
   * Resolves when those drives end (with the results of those it finished itself).
   */
  async recoverOnce(limit = 100): Promise<SagaResult[]> {
    const started = await this.claimExpired(limit);
    const results = await Promise.all(started);
    return results.filter((r): r is SagaResult => r !== null);
  }

  /** Claims expired sagas and starts driving them; the promises settle when each drive ends. */
  async claimExpired(limit = 100): Promise<Promise<SagaResult | null>[]> {
    this.#assertOpen();
    const started: Promise<SagaResult | null>[] = [];
    for (const gid of this.#log.expired(this.#now(), limit)) {
      if (this.#inflight.has(gid)) continue;
      const now = this.#now();
      const claimed = await this.#exclusive(() => this.#log.claim(gid, this.owner, now, now + this.#leaseMs, iso(now)));
      if (!claimed || this.#inflight.has(gid)) continue;
      this.#logger.info({ gid }, 'saga claimed for recovery');
      started.push(this.#track(gid, () => this.#drive(gid)).catch((err: unknown) => {
        this.#logger.error({ gid, err: toShoalError(err).toJSON() }, 'saga recovery failed');
        return null;
      }));
    }
    return started;
  }

  /**
   * Runs recovery passes every `scanIntervalMs` while this instance holds the recovery lock.
   * Returns a function that stops the loop (and releases the lock).
   */
  startRecovery(options: RecoveryOptions): () => Promise<void> {
    this.#assertOpen();
    return runRecoveryLoop(options, {
      logger: this.#logger,
      closed: this.#closed.signal,
      scan: async () => {
        await this.claimExpired();
      },
      backoff: (attempt) => backoffDelay(attempt, { baseMs: Math.max(this.#backoff.baseMs, 100), maxMs: Math.max(this.#backoff.maxMs, 1_000) }, this.#random),
    });
  }

  /**
   * Stops: no new runs, recovery loops end, drives stop at their next step boundary and release
   * their claims so another instance resumes them at once. Calls in flight end on their own
   * (bounded by stepTimeoutMs); close does not wait for them.
   */
  close(): void {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort(new ShoalError({ code: SagaErrorCode.SAGA_ORCHESTRATOR_CLOSED, message: 'saga orchestrator closed', retryable: true }));
    for (const drive of this.#drives) drive.stop.abort();
  }

  #assertOpen(): void {
    if (this.#closed.signal.aborted) throw this.#closed.signal.reason;
  }

  #assertSameSaga(spec: SagaSpec, row: SagaRow | undefined): void {
    if (row === undefined) throw new Error(`saga ${spec.gid}: row vanished`);
    const stored = JSON.parse(row.spec) as StoredSpec;
    if (canonicalJson({ kind: stored.kind, steps: stored.steps }) !== canonicalJson({ kind: spec.kind, steps: spec.steps })) {
      throw new ShoalError({
        code: SagaErrorCode.SAGA_CONFLICT,
        message: `gid ${spec.gid} is already used by another saga`,
        retryable: false,
        details: { gid: spec.gid, kind: stored.kind },
      });
    }
  }

  #track(gid: string, fn: () => Promise<SagaResult | null>): Promise<SagaResult | null> {
    const p = fn().finally(() => {
      if (this.#inflight.get(gid) === p) this.#inflight.delete(gid);
    });
    this.#inflight.set(gid, p);
    return p;
  }

  /** A drive that lost its claim hands the saga to its new owner: wait for that one's result. */
  async #settle(gid: string, p: Promise<SagaResult | null>): Promise<SagaResult> {
    let result = await p;
    while (result === null) result = await (this.#inflight.get(gid) ?? this.#track(gid, () => this.#awaitOrTake(gid)));
    return result;
  }

  /** Waits for a saga driven elsewhere; takes it over if that driver's lease runs out. */
  async #awaitOrTake(gid: string): Promise<SagaResult | null> {
    for (;;) {
      this.#assertOpen();
      const row = this.#log.get(gid);
      if (row === undefined) throw new Error(`saga ${gid}: row vanished`);
      if (isTerminal(row.status)) return resultOf(row);
      const now = this.#now();
      if (row.lease_until <= now && (await this.#exclusive(() => this.#log.claim(gid, this.owner, now, now + this.#leaseMs, iso(now))))) {
        this.#logger.info({ gid }, 'saga taken over from an expired owner');
        return this.#drive(gid);
      }
      await sleep(this.#pollMs, this.#closed.signal);
    }
  }

  /** Drives a saga this object has just claimed, from its recorded position to its end. */
  async #drive(gid: string): Promise<SagaResult | null> {
    const first = this.#log.get(gid);
    if (first === undefined) throw new Error(`saga ${gid}: row vanished`);
    const drive: Drive = { gid, spec: JSON.parse(first.spec) as StoredSpec, stop: new AbortController(), lost: false };
    if (this.#closed.signal.aborted) drive.stop.abort();
    this.#drives.add(drive);
    drive.heartbeat = this.#heartbeat(drive);
    try {
      let row = first;
      for (;;) {
        if (isTerminal(row.status)) return resultOf(row);
        if (row.owner !== this.owner) throw new LostClaim(gid);
        row = row.status === 'running' ? await this.#forwardStep(drive, row) : await this.#compensateStep(drive, row);
      }
    } catch (err) {
      if (err instanceof LostClaim) {
        this.#logger.warn({ gid }, 'saga claim lost: another driver owns it now');
        return null;
      }
      throw err;
    } finally {
      clearInterval(drive.heartbeat);
      this.#drives.delete(drive);
      if (this.#closed.signal.aborted && !drive.lost) {
        try {
          await this.#exclusive(() => this.#log.release(gid, this.owner, iso(this.#now())));
        } catch {
          // The lease runs out by itself.
        }
      }
    }
  }

  async #forwardStep(drive: Drive, row: SagaRow): Promise<SagaRow> {
    const { steps } = drive.spec;
    const i = row.next_step;
    if (i >= steps.length) return this.#finish(drive, row, { gid: drive.gid, status: 'committed' });
    const step = steps[i]!;
    const outcome = await this.#tryAction(drive, step);
    const now = this.#now();
    if (outcome === 'ok') {
      this.#logger.debug({ gid: drive.gid, step: step.name, op: 'action', outcome: 'ok' }, 'saga step done');
      // The last step: its terminal write is its record (one commit, not an advance and then one).
      if (i + 1 === steps.length) return this.#finish(drive, { ...row, next_step: i + 1 }, { gid: drive.gid, status: 'committed' });
      await this.#write(drive, () => this.#log.advance(drive.gid, this.owner, 'running', i + 1, now + this.#leaseMs, iso(now)));
    } else {
      this.#logger.info({ gid: drive.gid, step: step.name, op: 'action', outcome: 'failed', code: outcome.code }, 'saga compensating');
      // The failed step may have run (an unknown outcome): compensate it too; its barrier makes
      // that a null compensation if it never did, and stops it from running later.
      await this.#write(drive, () => this.#log.startCompensating(drive.gid, this.owner, step.name, outcome, i, now + this.#leaseMs, iso(now)));
    }
    return this.#reload(drive);
  }

  async #compensateStep(drive: Drive, row: SagaRow): Promise<SagaRow> {
    const i = row.next_step;
    if (i < 0) {
      if (row.failed_step === null || row.error === null) throw new Error(`saga ${drive.gid}: compensating without failed_step`);
      return this.#finish(drive, row, resultOf({ ...row, status: 'aborted' }));
    }
    const step = drive.spec.steps[i];
    if (step === undefined) throw new Error(`saga ${drive.gid}: compensation index ${i} out of range`);
    await this.#compensate(drive, step);
    this.#logger.debug({ gid: drive.gid, step: step.name, op: 'compensate', outcome: 'ok' }, 'saga step compensated');
    const now = this.#now();
    await this.#write(drive, () => this.#log.advance(drive.gid, this.owner, 'compensating', i - 1, now + this.#leaseMs, iso(now)));
    return this.#reload(drive);
  }

  /** 'ok', or the business error (or the last transient one once attempts run out). */
  async #tryAction(drive: Drive, step: SagaStep): Promise<'ok' | { code: string; message: string }> {
    let last: ShoalError | undefined;
    for (let attempt = 1; attempt <= this.#actionAttempts; attempt++) {
      await this.#renewAfterPause(drive, attempt);
      try {
        await this.#caller.call(step.action, { ...step.params, gid: drive.gid, branch: step.name }, { idempotent: true, timeoutMs: this.#stepTimeoutMs });
        return 'ok';
      } catch (err) {
        last = toShoalError(err);
        const kind = classifyFailure(err);
        this.#logger.warn({ gid: drive.gid, step: step.name, op: 'action', outcome: kind, code: last.code, attempt }, 'saga step failed');
        if (kind === 'business') break;
        if (attempt < this.#actionAttempts) await this.#pause(drive, attempt);
      }
    }
    return { code: last!.code, message: last!.message };
  }

  /** Compensations never give up: a saga must end with no net effect once it aborts. */
  async #compensate(drive: Drive, step: SagaStep): Promise<void> {
    const params = { ...(step.compensationParams ?? step.params), gid: drive.gid, branch: step.name };
    for (let attempt = 1; ; attempt++) {
      await this.#renewAfterPause(drive, attempt);
      try {
        await this.#caller.call(step.compensation, params, { idempotent: true, timeoutMs: this.#stepTimeoutMs });
        return;
      } catch (err) {
        const e = toShoalError(err);
        const kind = classifyFailure(err);
        // A definite refusal of a compensation is a participant bug; keep trying, loudly.
        const log = kind === 'business' ? this.#logger.error.bind(this.#logger) : this.#logger.warn.bind(this.#logger);
        log({ gid: drive.gid, step: step.name, op: 'compensate', outcome: kind, code: e.code, attempt }, 'saga compensation failed; retrying');
        await this.#pause(drive, attempt);
      }
    }
  }

  /** The terminal write and the kind's onFinished, in one local transaction. */
  async #finish(drive: Drive, row: SagaRow, result: SagaResult): Promise<SagaRow> {
    const handler = this.#handlers.get(row.kind);
    if (handler === undefined) this.#logger.warn({ gid: drive.gid, kind: row.kind }, 'saga finished with no onFinished handler for its kind');
    const to: SagaStatus = result.status;
    const payload = JSON.parse(row.payload) as Record<string, unknown>;
    const at = iso(this.#now());
    await this.#write(drive, () =>
      this.#db
        .transaction(() => {
          if (!this.#log.finish(drive.gid, this.owner, row.status, to, row.next_step, at)) return false;
          handler?.(result, payload, this.#db);
          return true;
        })
        .immediate(),
    );
    // Per-saga lines are debug (thousands a second under load); an abort is worth an info line.
    if (result.status === 'committed') this.#logger.debug({ gid: drive.gid, kind: row.kind, outcome: 'committed' }, 'saga finished');
    else this.#logger.info({ gid: drive.gid, kind: row.kind, outcome: 'aborted', failedStep: result.failedStep, code: result.error.code }, 'saga finished');
    return this.#reload(drive);
  }

  /** A conditional write of the log; no row changed means another driver owns the saga now. */
  async #write(drive: Drive, fn: () => boolean): Promise<void> {
    if (drive.lost) throw new LostClaim(drive.gid);
    if (!(await this.#exclusive(fn))) {
      this.#markLost(drive);
      throw new LostClaim(drive.gid);
    }
  }

  /**
   * Before a branch call. The first try needs no write: the insert, claim or advance that led
   * here set the lease just now (and the heartbeat keeps it during the call). A retry after a
   * backoff pause renews, and so finds out at once if the claim was lost meanwhile.
   */
  async #renewAfterPause(drive: Drive, attempt: number): Promise<void> {
    if (drive.stop.signal.aborted) throw drive.lost ? new LostClaim(drive.gid) : this.#closed.signal.reason;
    if (attempt === 1) return;
    const leaseUntil = this.#now() + this.#leaseMs;
    await this.#write(drive, () => this.#log.renew(drive.gid, this.owner, leaseUntil));
  }

  #reload(drive: Drive): SagaRow {
    const row = this.#log.get(drive.gid);
    if (row === undefined) throw new Error(`saga ${drive.gid}: row vanished`);
    return row;
  }

  async #pause(drive: Drive, attempt: number): Promise<void> {
    await sleep(backoffDelay(attempt, this.#backoff, this.#random), drive.stop.signal).catch(() => undefined);
    if (drive.stop.signal.aborted) throw drive.lost ? new LostClaim(drive.gid) : this.#closed.signal.reason;
  }

  /** Keeps the claim alive while a call is in flight; any failure to renew counts as lost. */
  #heartbeat(drive: Drive): NodeJS.Timeout {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || drive.lost) return;
      busy = true;
      const leaseUntil = this.#now() + this.#leaseMs;
      this.#exclusive(() => this.#log.renew(drive.gid, this.owner, leaseUntil))
        .then((held) => {
          if (!held) this.#markLost(drive);
        }, () => this.#markLost(drive))
        .finally(() => (busy = false));
    }, this.#renewEveryMs);
    timer.unref();
    return timer;
  }

  #markLost(drive: Drive): void {
    drive.lost = true;
    drive.stop.abort();
    clearInterval(drive.heartbeat);
  }
}

function assertSpec(spec: SagaSpec): void {
  const bad = (why: string): never => {
    throw new ShoalError({ code: 'INVALID_ARGUMENT', message: `saga spec: ${why}`, retryable: false });
  };
  if (!isValidTxnId(spec.gid)) bad('gid must match [A-Za-z0-9_.:-]{1,128}');
  if (typeof spec.kind !== 'string' || spec.kind === '') bad('kind must be a non-empty string');
  if (!Array.isArray(spec.steps)) bad('steps must be an array');
  const names = new Set<string>();
  for (const step of spec.steps) {
    if (!isValidTxnId(step.name)) bad(`step name ${JSON.stringify(step.name)} must match [A-Za-z0-9_.:-]{1,128}`);
    if (names.has(step.name)) bad(`step name ${step.name} repeats`);
    names.add(step.name);
    if (typeof step.action !== 'string' || step.action === '' || typeof step.compensation !== 'string' || step.compensation === '') {
      bad(`step ${step.name} needs an action and a compensation`);
    }
    if (typeof step.params !== 'object' || step.params === null) bad(`step ${step.name} params must be an object`);
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
