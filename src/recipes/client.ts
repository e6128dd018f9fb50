// The etcd3 client, configured so a call whose outcome is unknown is never retried blindly.
//
// Why: etcd3's default fault handling ("global" policy) retries ANY call that failed with a
// recoverable gRPC error (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, ...) up to three times, each
// time on another host. For a write, such an error does not mean "not applied": the request may
// have reached the leader and committed before the connection died. Retrying it then applies it
// twice (a Put adds a second revision, a lease grant leaks a lease) or, for a compare-and-set,
// answers "compare failed" although our first attempt is the write that made it fail. That was
// measured on this project against etcd 3.4 with a leader killed under load (the class of etcd
// issue 14890 and of the jetcd retry analysis).
//
// The policy here learns, per call, which RPC it is running and then:
//   - idempotent calls (Range, read-only Txn, TimeToLive, Leases, MemberList, Status, ...) are
//     retried on recoverable errors, on the next host, with backoff;
//   - every other call is retried only when the error proves the request never left this
//     process (no connection established) or was refused before it was proposed (no leader,
//     too many requests); any other transport or timeout failure becomes OutcomeUnknownError,
//     and the caller resolves it by reading (see counter.ts) or reports it.
// Definite answers from the server (compare failed, lease not found, compacted, ...) are never
// retried and pass through unchanged.
//
// How the policy learns the RPC: etcd3's ConnectionPool.exec(service, method, params) calls the
// global policy's execute synchronously, so a wrapper around the pool's exec hands the call's
// context to execute through a variable set and cleared around that synchronous call (see
// `trackCalls`). No AsyncLocalStorage: on Node 20 one ALS that has run makes every promise in the
// process pay async-hook costs, and service processes make several promises per remote call.
import {
  Etcd3,
  isRecoverableError,
  type CallContext,
  type IOptions,
  type IRequestOp,
  type ITxnRequest,
} from 'etcd3';

type FaultHandling = NonNullable<IOptions['faultHandling']>;
type Policy = NonNullable<FaultHandling['global']>;
type CallOptions = Exclude<NonNullable<IOptions['defaultCallOptions']>, (...args: never[]) => unknown>;

/** A non-idempotent call failed in a way that does not tell whether the server applied it. */
export class OutcomeUnknownError extends Error {
  override readonly name = 'OutcomeUnknownError';
  constructor(
    /** "Service.method", e.g. "KV.txn". */
    readonly operation: string,
    cause: unknown,
  ) {
    super(`${operation}: the outcome is unknown (it may or may not have been applied): ${errorMessage(cause)}`, { cause });
  }
}

export function isOutcomeUnknown(err: unknown): err is OutcomeUnknownError {
  return err instanceof OutcomeUnknownError;
}

export interface CoordClientOptions {
  /** Deadline for each unary call attempt, in ms (streams have none). 0 disables. Default 10 000. */
  callTimeoutMs?: number;
  /**
   * Attempts per call in total, including the first. Default 3. A call that provably never left
   * gets as many more as there are endpoints, so every endpoint is tried once.
   */
  maxAttempts?: number;
  /** First retry delay in ms, doubled per retry up to maxBackoffMs, with full jitter. Default 50. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Passed to the etcd3 client unchanged. */
  credentials?: IOptions['credentials'];
  auth?: IOptions['auth'];
  grpcOptions?: IOptions['grpcOptions'];
  /** Merged under this module's call options (which only add the deadline). */
  defaultCallOptions?: IOptions['defaultCallOptions'];
  watchBackoff?: FaultHandling['watchBackoff'];
  /** Observes every retry decision (for logs and tests). */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  operation: string;
  attempt: number;
  reason: 'idempotent' | 'never-sent';
  error: unknown;
}

/**
 * The unary call a global-policy execution runs, handed over synchronously by the exec wrapper
 * (set just before ConnectionPool.exec calls execute, cleared when exec returns its promise).
 */
let handedOver: CallContext | undefined;

interface ExecPool {
  exec(service: string, method: string, params: unknown, options?: unknown): Promise<unknown>;
}

/**
 * Wraps the client's ConnectionPool.exec (every unary call of every namespace goes through it) so
 * the global policy's execute, which exec calls synchronously, learns which RPC it is running.
 */
function trackCalls(client: Etcd3): void {
  const pool = (client as unknown as { pool?: ExecPool }).pool;
  if (pool === undefined || typeof pool.exec !== 'function') {
    throw new Error('createCoordClient: etcd3 ConnectionPool.exec not found; the retry policy cannot classify calls');
  }
  const exec = pool.exec.bind(pool);
  pool.exec = (service, method, params, options) => {
    const outer = handedOver;
    handedOver = { service, method, params, isStream: false } as CallContext;
    try {
      return exec(service, method, params, options);
    } finally {
      handedOver = outer;
    }
  };
}

/**
 * An etcd3 client whose fault handling never retries a non-idempotent call blindly.
 * `endpoints` are client URLs ("http://127.0.0.1:2379"), tried in shuffled order.
 */
export function createCoordClient(endpoints: string | string[], opts: CoordClientOptions = {}): Etcd3 {
  const hosts = typeof endpoints === 'string' ? endpoints.split(',').map((s) => s.trim()) : endpoints;
  if (hosts.length === 0 || hosts.some((h) => h === '')) throw new Error('createCoordClient: no endpoints');
  const callTimeoutMs = opts.callTimeoutMs ?? 10_000;
  const userCallOptions = opts.defaultCallOptions;
  const options: IOptions = {
    hosts,
    faultHandling: {
      global: coordRetryPolicy({ ...opts, extraUnsentAttempts: hosts.length }),
      // No per-host circuit breaker: a dead host fails fast ("no connection established"), which
      // the global policy retries on the next host; a breaker would only turn one dead endpoint
      // of a single-endpoint client into seconds of refusals.
      host: () => passThroughPolicy(),
      ...(opts.watchBackoff ? { watchBackoff: opts.watchBackoff } : {}),
    },
    defaultCallOptions: (context: CallContext): CallOptions => {
      const base: CallOptions = !context.isStream && callTimeoutMs > 0 ? { deadline: Date.now() + callTimeoutMs } : {};
      const extra = typeof userCallOptions === 'function' ? userCallOptions(context) : userCallOptions;
      return { ...base, ...extra };
    },
  };
  if (opts.credentials) options.credentials = opts.credentials;
  if (opts.auth) options.auth = opts.auth;
  if (opts.grpcOptions) options.grpcOptions = opts.grpcOptions;
  const client = new Etcd3(options);
  trackCalls(client);
  return client;
}

/** The global fault-handling policy used by createCoordClient (exported for tests). */
export function coordRetryPolicy(
  opts: Pick<CoordClientOptions, 'maxAttempts' | 'initialBackoffMs' | 'maxBackoffMs' | 'onRetry'> & { extraUnsentAttempts?: number } = {},
): Policy {
  const maxAttempts = opts.maxAttempts ?? 3;
  const extraUnsent = opts.extraUnsentAttempts ?? 0;
  const initial = opts.initialBackoffMs ?? 50;
  const max = opts.maxBackoffMs ?? 1000;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new Error(`maxAttempts must be >= 1, got ${maxAttempts}`);
  const policy = {
    _altReturn: undefined as never,
    onSuccess: () => ({ dispose: () => undefined }),
    onFailure: () => ({ dispose: () => undefined }),
    async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
      // Read before the first await: it is this call's only while exec's synchronous part runs.
      // Without it (the policy used outside createCoordClient) every call counts as a write.
      const context = handedOver;
      handedOver = undefined;
      const sig = signal ?? new AbortController().signal;
      for (let attempt = 1; ; attempt++) {
        try {
          return await fn({ signal: sig });
        } catch (err) {
          const operation = context ? `${context.service}.${context.method}` : 'unknown call';
          const idempotent = context !== undefined && isIdempotentCall(context);
          const neverSent = wasNeverSent(err);
          const retryable = neverSent || (idempotent && isRecoverableError(err as Error));
          const budget = neverSent ? maxAttempts + extraUnsent : maxAttempts;
          if (!retryable || attempt >= budget || sig.aborted) {
            if (!idempotent && !neverSent && isOutcomeAmbiguous(err)) throw new OutcomeUnknownError(operation, err);
            throw err;
          }
          opts.onRetry?.({ operation, attempt, reason: neverSent ? 'never-sent' : 'idempotent', error: err });
          await backoff(Math.min(max, initial * 2 ** (attempt - 1)), sig);
        }
      }
    },
  };
  return policy as unknown as Policy;
}

function passThroughPolicy(): Policy {
  const policy = {
    _altReturn: undefined as never,
    onSuccess: () => ({ dispose: () => undefined }),
    onFailure: () => ({ dispose: () => undefined }),
    execute: <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> =>
      Promise.resolve().then(() => fn({ signal: signal ?? new AbortController().signal })),
  };
  return policy as unknown as Policy;
}

/** True when running the call twice has the same effect on the store as running it once. */
export function isIdempotentCall(context: CallContext): boolean {
  switch (context.service) {
    case 'KV':
      if (context.method === 'range') return true;
      if (context.method === 'txn') return isReadOnlyTxn(context.params);
      return false; // put, deleteRange, compact
    case 'Lease':
      // A repeated revoke has the same effect; its reply may then be "lease not found", which
      // callers of revoke treat as done (Session.close does).
      return context.method === 'leaseTimeToLive' || context.method === 'leaseLeases' || context.method === 'leaseRevoke';
    case 'Cluster':
      return context.method === 'memberList';
    case 'Maintenance':
      return context.method === 'status' || context.method === 'hash' || context.method === 'hashKV'
        || (context.method === 'alarm' && String((context.params as { action?: unknown }).action ?? 'GET') === 'GET');
    case 'Auth':
      return context.method === 'authenticate' || context.method === 'authStatus' || context.method === 'userGet'
        || context.method === 'userList' || context.method === 'roleGet' || context.method === 'roleList';
    default:
      return false;
  }
}

function isReadOnlyTxn(txn: ITxnRequest): boolean {
  const ops: IRequestOp[] = [...(txn.success ?? []), ...(txn.failure ?? [])];
  return ops.every((op) =>
    op.request_put === undefined && op.request_delete_range === undefined
    && (op.request_txn === undefined || isReadOnlyTxn(op.request_txn)));
}

// Errors that prove the request was not applied: the channel had no connection, so nothing was
// written to the wire; a circuit breaker refused it; or the server refused it before proposing
// it to raft (etcd checks leader presence and the apply backlog first).
const NEVER_SENT = [
  /No connection established/,
  /etcdserver: no leader/,
  /etcdserver: too many requests/,
  /etcdserver: not capable/,
  /etcdserver: unhealthy cluster/,
];

export function wasNeverSent(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  if ((err as { isBrokenCircuitError?: unknown }).isBrokenCircuitError === true) return true;
  const message = errorMessage(err);
  return NEVER_SENT.some((re) => re.test(message));
}

// Server answers that do not tell whether a proposal was applied (etcd returns them when the
// proposal's wait timed out or leadership moved while it was in flight).
const AMBIGUOUS_SERVER = [
  /etcdserver: request timed out/,
  /etcdserver: leader changed/,
  /etcdserver: server stopped/,
  /etcdserver: request cancelled/,
];

/** True when a failed write may or may not have been applied. */
export function isOutcomeAmbiguous(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return true;
  if (wasNeverSent(err)) return false;
  if (isRecoverableError(err as Error)) return true; // UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, CANCELLED, ...
  const message = errorMessage(err);
  return AMBIGUOUS_SERVER.some((re) => re.test(message));
}

function backoff(ceilingMs: number, signal: AbortSignal): Promise<void> {
  const ms = Math.random() * ceilingMs;
  return new Promise((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason); return; }
    const onAbort = (): void => { clearTimeout(timer); reject(signal.reason); };
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
