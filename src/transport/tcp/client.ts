// The TCP client: a small pool of long-lived connections per endpoint, opened lazily and
// reopened after a drop. Failed connects back off exponentially with jitter; during a backoff
// calls fail at once (retryable: nothing was sent) so the caller can pick another endpoint
// instead of queueing behind a dead one.
import { backpressure, clientClosed, connectionFailed, deadlineSpent } from '../errors.js';
import type { CallMeta, CallOptions, TransportClient } from '../types.js';
import { ClientConnection, type ConnectionLimits } from './connection.js';

export const TCP_SCHEME = 'shoal+tcp:';

export interface TcpClientOptions extends Partial<ConnectionLimits> {
  /** Connections per endpoint. One or two is best: one socket already carries many calls. */
  poolSize?: number;
  /** Used when a call gives neither `timeoutMs` nor `meta.deadlineMs`. */
  defaultTimeoutMs?: number;
  reconnect?: { initialMs?: number; maxMs?: number };
}

export const TCP_DEFAULTS = {
  poolSize: 1,
  defaultTimeoutMs: 30_000,
  maxFrameBytes: 8 * 1024 * 1024,
  maxPending: 10_000,
  maxBufferedBytes: 32 * 1024 * 1024,
  connectTimeoutMs: 5_000,
  pingIntervalMs: 10_000,
  reconnect: { initialMs: 50, maxMs: 5_000 },
};

class EndpointPool {
  readonly slots: (ClientConnection | undefined)[];
  private failures = 0;
  private retryAt = 0;

  constructor(
    readonly endpoint: string,
    private readonly host: string,
    private readonly port: number,
    size: number,
    private readonly limits: ConnectionLimits,
    private readonly reconnect: { initialMs: number; maxMs: number },
  ) {
    this.slots = new Array<ClientConnection | undefined>(size).fill(undefined);
  }

  /** The usable connection with the fewest pending calls, opening empty slots unless backing off. */
  pick(): ClientConnection {
    let best: ClientConnection | undefined;
    let canOpen = performance.now() >= this.retryAt;
    for (let i = 0; i < this.slots.length; i++) {
      let conn = this.slots[i];
      if (conn === undefined || !conn.usable) {
        if (!canOpen) continue;
        // A slot whose connection was told to go away is refilled; the old one finishes on its own.
        conn = new ClientConnection(this.endpoint, this.host, this.port, this.limits, this.onClosed);
        this.slots[i] = conn;
        canOpen = false; // one new connection per call: a dead endpoint costs one connect, not N
      }
      if (best === undefined || conn.pendingCount < best.pendingCount) best = conn;
    }
    if (best === undefined) {
      throw connectionFailed(this.endpoint, `backing off after ${this.failures} failed connects`, Math.ceil(this.retryAt - performance.now()));
    }
    if (best.pendingCount >= this.limits.maxPending) {
      throw backpressure({ endpoint: this.endpoint, instance: best.instance }, `${best.pendingCount} calls pending on every connection`);
    }
    return best;
  }

  close(): void {
    for (const conn of this.slots) conn?.close();
  }

  private readonly onClosed = (conn: ClientConnection, opened: boolean): void => {
    const i = this.slots.indexOf(conn);
    if (i >= 0) this.slots[i] = undefined;
    if (opened) {
      this.failures = 0;
      this.retryAt = 0;
      return;
    }
    this.failures++;
    const ceiling = Math.min(this.reconnect.maxMs, this.reconnect.initialMs * 2 ** (this.failures - 1));
    // Half fixed, half jitter: spreads reconnects of many clients without ever retrying at once.
    this.retryAt = performance.now() + ceiling / 2 + (Math.random() * ceiling) / 2;
  };
}

export class TcpClient implements TransportClient {
  private readonly pools = new Map<string, EndpointPool>();
  private readonly limits: ConnectionLimits;
  private readonly poolSize: number;
  private readonly defaultTimeoutMs: number;
  private readonly reconnect: { initialMs: number; maxMs: number };
  private closed = false;

  constructor(options: TcpClientOptions = {}) {
    this.limits = {
      maxFrameBytes: options.maxFrameBytes ?? TCP_DEFAULTS.maxFrameBytes,
      maxPending: options.maxPending ?? TCP_DEFAULTS.maxPending,
      maxBufferedBytes: options.maxBufferedBytes ?? TCP_DEFAULTS.maxBufferedBytes,
      connectTimeoutMs: options.connectTimeoutMs ?? TCP_DEFAULTS.connectTimeoutMs,
      pingIntervalMs: options.pingIntervalMs ?? TCP_DEFAULTS.pingIntervalMs,
    };
    this.poolSize = options.poolSize ?? TCP_DEFAULTS.poolSize;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? TCP_DEFAULTS.defaultTimeoutMs;
    this.reconnect = { ...TCP_DEFAULTS.reconnect, ...options.reconnect };
    if (!(Number.isInteger(this.poolSize) && this.poolSize >= 1)) throw new RangeError(`poolSize must be an integer >= 1, got ${this.poolSize}`);
    if (!(this.limits.maxPending >= 1)) throw new RangeError(`maxPending must be >= 1, got ${this.limits.maxPending}`);
  }

  call<T = unknown>(endpointUrl: string, action: string, params: unknown, meta?: CallMeta, options?: CallOptions): Promise<T> {
    try {
      const timeoutMs = Math.min(options?.timeoutMs ?? Infinity, meta?.deadlineMs ?? Infinity);
      const budget = timeoutMs === Infinity ? this.defaultTimeoutMs : timeoutMs;
      if (!(budget > 0)) throw deadlineSpent(endpointUrl);
      // The callee gets the budget left when the request leaves, floored: never more than we have.
      // A meta that already carries exactly that (the runtime's pipeline builds it so) goes as is.
      const floored = Math.floor(budget);
      const sent: CallMeta | null =
        budget === Infinity ? (meta ?? null) : meta === undefined ? { deadlineMs: floored } : meta.deadlineMs === floored ? meta : withDeadline(meta, floored);
      return this.pool(endpointUrl).pick().call(action, params, sent, budget) as Promise<T>;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async emit(endpointUrl: string, event: string, payload: unknown, meta?: CallMeta): Promise<void> {
    this.pool(endpointUrl).pick().emit(event, payload, meta ?? null);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const pool of this.pools.values()) pool.close();
    this.pools.clear();
  }

  /** Open connections per endpoint (diagnostics and tests). */
  connections(endpointUrl: string): readonly ClientConnection[] {
    return (this.pools.get(endpointUrl)?.slots ?? []).filter((c): c is ClientConnection => c !== undefined);
  }

  private pool(endpointUrl: string): EndpointPool {
    let pool = this.pools.get(endpointUrl);
    if (pool !== undefined) return pool;
    if (this.closed) throw clientClosed(endpointUrl, false);
    const { host, port } = parseTcpUrl(endpointUrl);
    pool = new EndpointPool(endpointUrl, host, port, this.poolSize, this.limits, this.reconnect);
    this.pools.set(endpointUrl, pool);
    return pool;
  }
}

/** meta with deadlineMs replaced, copied key by key (an object spread followed by more keys is a slow path in V8). */
function withDeadline(meta: CallMeta, deadlineMs: number): CallMeta {
  const out: Record<string, unknown> = {};
  for (const key in meta) if (Object.prototype.hasOwnProperty.call(meta, key)) out[key] = meta[key];
  out.deadlineMs = deadlineMs;
  return out as CallMeta;
}

export function parseTcpUrl(endpointUrl: string): { host: string; port: number } {
  const url = new URL(endpointUrl);
  if (url.protocol !== TCP_SCHEME) throw new TypeError(`not a ${TCP_SCHEME}// URL: ${endpointUrl}`);
  const port = Number(url.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new TypeError(`${endpointUrl}: a port is required`);
  // IPv6 literals come back bracketed from URL; net.connect wants them bare.
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}
