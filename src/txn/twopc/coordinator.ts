// The 2PC coordinator (presumed abort). Order of durable facts, which is the whole protocol:
//   1. owner key /shoal/txn-owners/<gid> under this coordinator's lease — before any prepare, so
//      every prepared branch implies an owner key existed; its absence later means nobody is
//      (or will be) deciding, which is what lets a recoverer presume abort;
//   2. phase one: every branch prepares (idempotent, transient failures retried in a bound);
//   3. the decision at /shoal/txn/<gid>, CAS-created (first writer wins, everyone obeys it);
//   4. phase two: only after 3 is durable, commit or abort every branch until each succeeds;
//   5. the owner key is deleted; the decision stays (participants and recoverers may still ask).
// A coordinator that crashes anywhere leaves either no decision (its lease expires, a recoverer
// presumes abort) or a decision (any instance can finish it). As in Seata's TC, the decision is
// the only state that matters; unlike Seata the log lives in the replicated coordinator store.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { ShoalError, toShoalError } from '../../errors/index.js';
import { isOutcomeUnknown, Session } from '../../recipes/index.js';
import type { Caller } from '../../runtime/types.js';
import type { Gid, TwoPcBranch, TwoPcResult, TwoPcSpec, TxnDecision } from '../types.js';
import { backoffDelay, sleep, type BackoffOptions } from './backoff.js';
import { readDecision, writeDecision } from './decision.js';
import { assertTxnId, ownerKey } from './keys.js';

/** Named points in run(), for fault injection in tests and for tracing. */
export interface TwoPcHooks {
  /** Phase one is over (every branch prepared, or one refused); the decision is not yet written. */
  beforeDecision?(gid: Gid, wanted: TxnDecision['decision']): Promise<void> | void;
  /** The decision is durable; phase two has not started. */
  beforePhaseTwo?(decision: TxnDecision): Promise<void> | void;
}

export interface TwoPhaseCoordinatorOptions {
  caller: Caller;
  /** From recipes' createCoordClient (writes whose outcome is unknown raise OutcomeUnknownError). */
  coord: Etcd3;
  instanceId: string;
  logger: Logger;
  /** TTL of the lease holding this coordinator's owner keys. Default 5. */
  leaseTtlSeconds?: number;
  /** Bound on phase one (all prepares, retries included). Default 10 000. */
  phaseTimeoutMs?: number;
  /** Bound on each branch call attempt. Default 5 000. */
  callTimeoutMs?: number;
  /** Between retries of a branch call. Default 50 ms doubling to 2 s, full jitter. */
  backoff?: BackoffOptions;
  hooks?: TwoPcHooks;
}

/** Errors of a branch call that say nothing about the participant's answer: try again. */
const TRANSIENT = new Set([
  'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'INTERNAL', 'CANCELLED', 'NO_ENDPOINT', 'CIRCUIT_OPEN', 'BULKHEAD_REJECTED',
  'CONNECTION_LOST', 'CONNECTION_FAILED', 'BACKPRESSURE', 'CLIENT_CLOSED', 'PROTOCOL_ERROR', 'ACTION_NOT_FOUND',
]);

export function isTransientBranchError(err: ShoalError): boolean {
  return err.retryable || err.details?.['maybeExecuted'] === true || TRANSIENT.has(err.code);
}

interface Refusal {
  branch: string;
  error: { code: string; message: string };
}

const OWNER_WRITE_ATTEMPTS = 5;

export class TwoPhaseCoordinator {
  private readonly caller: Caller;
  private readonly coord: Etcd3;
  readonly instanceId: string;
  private readonly logger: Logger;
  private readonly leaseTtlSeconds: number;
  private readonly phaseTimeoutMs: number;
  private readonly callTimeoutMs: number;
  private readonly backoff: BackoffOptions;
  private readonly hooks: TwoPcHooks;
  private sessionPromise: Promise<Session> | undefined;
  /** Aborted by close() or abandon(): every retry loop of every run stops. */
  private readonly stopController = new AbortController();
  private crashed = false;

  constructor(options: TwoPhaseCoordinatorOptions) {
    this.caller = options.caller;
    this.coord = options.coord;
    this.instanceId = options.instanceId;
    this.logger = options.logger.child({ component: 'twopc' });
    this.leaseTtlSeconds = options.leaseTtlSeconds ?? 5;
    this.phaseTimeoutMs = options.phaseTimeoutMs ?? 10_000;
    this.callTimeoutMs = options.callTimeoutMs ?? 5_000;
    this.backoff = options.backoff ?? {};
    this.hooks = options.hooks ?? {};
    if (!Number.isInteger(this.leaseTtlSeconds) || this.leaseTtlSeconds < 1) throw new RangeError('leaseTtlSeconds must be an integer >= 1');
    if (!(this.phaseTimeoutMs > 0)) throw new RangeError('phaseTimeoutMs must be > 0');
  }

  /** The stored decision for gid, if any. */
  decisionOf(gid: Gid): Promise<TxnDecision | undefined> {
    return readDecision(this.coord, gid);
  }

  /** Runs one transaction to its end: both phases, or obeys a decision already stored for gid. */
  async run(spec: TwoPcSpec): Promise<TwoPcResult> {
    validateSpec(spec);
    const { gid } = spec;
    const log = this.logger.child({ gid, kind: spec.kind });
    // A rerun of a gid that was already decided (the first run crashed) only finishes that
    // decision: phase two is idempotent, so it needs no ownership (the crashed owner's key may
    // still be waiting for its lease to expire).
    const earlier = await readDecision(this.coord, gid);
    if (earlier !== undefined) {
      log.info({ decision: earlier.decision, by: earlier.by }, '2pc already decided; finishing phase two');
      await this.phaseTwo(spec, earlier, log);
      return resultOf(spec, earlier, undefined, this.instanceId);
    }
    const session = await this.session();
    const ownerRevision = await this.registerOwner(spec, session);
    let decision: TxnDecision | undefined;
    try {
      // Read again under ownership: a recoverer may have presumed abort in between.
      decision = await readDecision(this.coord, gid);
      let refusal: Refusal | undefined;
      if (decision === undefined) {
        refusal = await this.phaseOne(spec, log);
        const wanted = refusal === undefined ? 'commit' : 'abort';
        await this.hooks.beforeDecision?.(gid, wanted);
        this.stopController.signal.throwIfAborted();
        decision = await writeDecision(this.coord, gid, wanted, this.instanceId);
        if (decision.decision !== wanted) log.warn({ wanted, stored: decision }, 'another writer decided first; obeying the stored decision');
      }
      // One line per transaction under load: commits at debug, aborts at info.
      log[decision.decision === 'commit' ? 'debug' : 'info']({ decision: decision.decision, by: decision.by }, '2pc decision');
      await this.hooks.beforePhaseTwo?.(decision);
      await this.phaseTwo(spec, decision, log);
      await this.releaseOwner(gid, ownerRevision);
      return resultOf(spec, decision, refusal, this.instanceId);
    } catch (err) {
      // A simulated crash leaves everything as it is; anything else without a decision settles.
      if (!this.crashed && decision === undefined) await this.settleUndecided(gid, ownerRevision, log);
      throw err;
    }
  }

  /**
   * A run that fails before its decision (the coordinator store timed out under load, a hook
   * threw) must not leave its owner key under this instance's live lease: recoverers would wait
   * on it — and the order stay pending — for as long as this instance lives. So it stores
   * `abort` itself (it owns the gid and decided nothing; should an earlier commit write of its own
   * have landed after all, the CAS returns that commit and everyone obeys it) and deletes the
   * owner key. The first try is awaited; if the store is unreachable it goes on in the
   * background, with backoff, until both are done or the coordinator closes.
   */
  private async settleUndecided(gid: Gid, ownerRevision: string, log: Logger): Promise<void> {
    const settle = async (): Promise<void> => {
      const stored = await writeDecision(this.coord, gid, 'abort', this.instanceId);
      log.info({ decision: stored.decision, by: stored.by }, '2pc ended without deciding; stored decision');
      await this.releaseOwner(gid, ownerRevision);
    };
    try {
      await settle();
      return;
    } catch (err) {
      log.warn({ err }, 'could not settle an undecided 2PC yet; retrying in the background');
    }
    const signal = this.stopController.signal;
    void (async () => {
      for (let attempt = 1; !signal.aborted; attempt++) {
        await sleep(backoffDelay(attempt, this.backoff), signal);
        try {
          await settle();
          return;
        } catch (err) {
          log[attempt % 10 === 0 ? 'warn' : 'debug']({ err, attempt }, 'settling an undecided 2PC failed again');
        }
      }
    })().catch(() => undefined); // only a stop ends it early: the lease then goes too
  }

  /** Stops every run's retry loops and revokes the lease (its owner keys vanish with it). */
  async close(): Promise<void> {
    this.stopController.abort(new ShoalError({ code: 'CANCELLED', message: 'two-phase coordinator closed', retryable: false }));
    const session = await this.sessionPromise?.catch(() => undefined);
    await session?.close();
  }

  /**
   * What a crash looks like from outside: keep-alives stop (the lease expires after its TTL,
   * taking the owner keys with it) and every run stops where it is, writing nothing more.
   */
  async abandon(): Promise<void> {
    this.crashed = true;
    this.stopController.abort(new ShoalError({ code: 'CANCELLED', message: 'two-phase coordinator abandoned', retryable: false }));
    const session = await this.sessionPromise?.catch(() => undefined);
    session?.abandon();
  }

  private async session(): Promise<Session> {
    this.stopController.signal.throwIfAborted();
    const current = this.sessionPromise;
    if (current !== undefined) {
      const session = await current.catch(() => undefined);
      if (session !== undefined && !session.lost.aborted) return session;
      if (this.sessionPromise !== current) return this.session();
    }
    const created = Session.create(this.coord, { ttlSeconds: this.leaseTtlSeconds, signal: this.stopController.signal });
    this.sessionPromise = created;
    return created;
  }

  /** CAS-creates the owner key under our lease; returns its create revision. Repeat-safe. */
  private async registerOwner(spec: TwoPcSpec, session: Session): Promise<string> {
    const key = Buffer.from(ownerKey(spec.gid));
    const value = Buffer.from(JSON.stringify({ gid: spec.gid, kind: spec.kind, by: this.instanceId, lease: session.leaseId, at: new Date().toISOString() }));
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.coord.kv.txn({
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key, value, lease: session.leaseId } }],
          failure: [{ request_range: { key } }],
        });
        if (res.succeeded) return res.header.revision;
        const kv = res.responses[0]?.response_range?.kvs[0];
        if (kv === undefined) throw new Error(`owner CAS on ${ownerKey(spec.gid)} failed its compare but the key is absent`);
        if (kv.lease === session.leaseId) return kv.create_revision; // our own earlier attempt landed
        throw new ShoalError({
          code: 'TXN_IN_PROGRESS',
          message: `transaction ${spec.gid} is being run by another coordinator (${kv.value.toString()})`,
          retryable: false,
          details: { gid: spec.gid },
        });
      } catch (err) {
        if (!isOutcomeUnknown(err) || attempt >= OWNER_WRITE_ATTEMPTS) throw err;
      }
    }
  }

  /** Deletes our owner key (guarded by its create revision, so repeating it is harmless). */
  private async releaseOwner(gid: Gid, createRevision: string): Promise<void> {
    const key = Buffer.from(ownerKey(gid));
    for (let attempt = 1; ; attempt++) {
      try {
        await this.coord.kv.txn({
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: createRevision }],
          success: [{ request_delete_range: { key } }],
          failure: [],
        });
        return;
      } catch (err) {
        if (!isOutcomeUnknown(err) || attempt >= OWNER_WRITE_ATTEMPTS) throw err;
      }
    }
  }

  /** Prepares every branch in parallel; the first refusal (or a branch out of time) ends the phase. */
  private async phaseOne(spec: TwoPcSpec, log: Logger): Promise<Refusal | undefined> {
    const deadline = Date.now() + this.phaseTimeoutMs;
    const phase = new AbortController();
    const onStop = (): void => phase.abort(this.stopController.signal.reason);
    this.stopController.signal.addEventListener('abort', onStop, { once: true });
    try {
      const refusal = await new Promise<Refusal | undefined>((resolve) => {
        let pending = spec.branches.length;
        for (const branch of spec.branches) {
          void this.prepareBranch(spec.gid, branch, deadline, phase.signal, log).then((error) => {
            if (error !== undefined) {
              phase.abort();
              resolve({ branch: branch.name, error });
            } else if (--pending === 0) {
              resolve(undefined);
            }
          });
        }
      });
      this.stopController.signal.throwIfAborted();
      return refusal;
    } finally {
      phase.abort();
      this.stopController.signal.removeEventListener('abort', onStop);
    }
  }

  /** undefined = prepared; else why not. Never rejects. */
  private async prepareBranch(gid: Gid, branch: TwoPcBranch, deadline: number, signal: AbortSignal, log: Logger): Promise<Refusal['error'] | undefined> {
    let last: ShoalError | undefined;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - Date.now();
      if (signal.aborted) return { code: 'CANCELLED', message: `prepare of ${branch.name} cancelled` };
      if (remaining <= 0) {
        return {
          code: last?.code ?? 'DEADLINE_EXCEEDED',
          message: `prepare of ${branch.name} did not succeed within ${this.phaseTimeoutMs} ms (${attempt - 1} attempts)${last ? `: ${last.message}` : ''}`,
        };
      }
      try {
        await this.caller.call(branch.prepare, { ...branch.params, gid, branch: branch.name }, { idempotent: true, timeoutMs: Math.min(this.callTimeoutMs, remaining) });
        return undefined;
      } catch (err) {
        last = toShoalError(err);
        if (!isTransientBranchError(last)) return { code: last.code, message: last.message };
        log.debug({ branch: branch.name, attempt, err: last }, 'prepare failed transiently; retrying');
      }
      const delay = Math.min(backoffDelay(attempt, this.backoff), Math.max(0, deadline - Date.now()));
      await sleep(delay, signal).catch(() => undefined);
    }
  }

  private async phaseTwo(spec: TwoPcSpec, decision: TxnDecision, log: Logger): Promise<void> {
    await Promise.all(spec.branches.map((branch) => this.finishBranch(spec.gid, branch, decision.decision, log)));
  }

  /** Commit (or abort) one branch, retried with capped backoff until it succeeds or we stop. */
  private async finishBranch(gid: Gid, branch: TwoPcBranch, decision: TxnDecision['decision'], log: Logger): Promise<void> {
    const action = decision === 'commit' ? branch.commit : branch.abort;
    const signal = this.stopController.signal;
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      try {
        await this.caller.call(action, { ...branch.params, gid, branch: branch.name }, { idempotent: true, timeoutMs: this.callTimeoutMs });
        return;
      } catch (err) {
        const e = toShoalError(err);
        // The decision is final: a participant must accept it. A non-transient answer is a bug
        // on its side (or a deploy in progress); keep trying and say so loudly.
        const level = isTransientBranchError(e) ? 'warn' : 'error';
        log[level]({ branch: branch.name, action, attempt, err: e }, `${decision} of a branch failed; retrying`);
      }
      await sleep(backoffDelay(attempt, this.backoff), signal);
    }
  }
}

function resultOf(spec: TwoPcSpec, decision: TxnDecision, refusal: Refusal | undefined, self: string): TwoPcResult {
  if (decision.decision === 'commit') return { gid: spec.gid, status: 'committed' };
  if (refusal !== undefined) return { gid: spec.gid, status: 'aborted', failedBranch: refusal.branch, error: refusal.error };
  const code = decision.by === self ? 'TXN_ABORTED' : 'TXN_PRESUMED_ABORT';
  return { gid: spec.gid, status: 'aborted', error: { code, message: `transaction ${spec.gid} was aborted by ${decision.by} at ${decision.at}` } };
}

function validateSpec(spec: TwoPcSpec): void {
  assertTxnId(spec.gid, 'gid');
  if (!Array.isArray(spec.branches) || spec.branches.length === 0) throw new TypeError(`2PC ${spec.gid}: at least one branch is needed`);
  const names = new Set<string>();
  for (const branch of spec.branches) {
    assertTxnId(branch.name, 'branch');
    if (names.has(branch.name)) throw new TypeError(`2PC ${spec.gid}: branch ${branch.name} appears twice`);
    names.add(branch.name);
  }
}
