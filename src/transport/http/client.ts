// The HTTP/JSON client, over undici's keep-alive pools (one per origin). The same error contract
// as the TCP client: a connect failure is retryable (nothing was sent); a failure after that may
// have run the action, so it carries `maybeExecuted: true` and is not retryable.
import { Pool } from 'undici';
import { ShoalError } from '../../errors/index.js';
import { callTimedOut, clientClosed, connectionFailed, connectionLost, deadlineSpent, messageTooLarge, protocolError } from '../errors.js';
import type { CallMeta, CallOptions, TransportClient } from '../types.js';
import { INSTANCE_HEADER, metaToHeaders } from './meta.js';
import { EVENT_PATH_PREFIX, HTTP_DEFAULTS } from './server.js';
import { codeForStatus } from './status.js';

export interface HttpClientOptions {
  /** Sockets per origin (HTTP/1.1 carries one request at a time on each). */
  connections?: number;
  defaultTimeoutMs?: number;
  maxBodyBytes?: number;
  connectTimeoutMs?: number;
}

/** undici error codes meaning no byte of the request reached the server. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

export class HttpClient implements TransportClient {
  private readonly pools = new Map<string, Pool>();
  private readonly connections: number;
  private readonly defaultTimeoutMs: number;
  private readonly maxBodyBytes: number;
  private readonly connectTimeoutMs: number;
  private closed = false;

  constructor(options: HttpClientOptions = {}) {
    // Measured on 2 cores at c=128: 4–16 sockets do best; 64 spends the time switching between them.
    this.connections = options.connections ?? 8;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    this.maxBodyBytes = options.maxBodyBytes ?? HTTP_DEFAULTS.maxBodyBytes;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  }

  async call<T = unknown>(endpointUrl: string, action: string, params: unknown, meta?: CallMeta, options?: CallOptions): Promise<T> {
    const timeoutMs = Math.min(options?.timeoutMs ?? Infinity, meta?.deadlineMs ?? Infinity);
    const budget = timeoutMs === Infinity ? this.defaultTimeoutMs : timeoutMs;
    if (!(budget > 0)) throw deadlineSpent(endpointUrl);
    const body = JSON.stringify(params === undefined ? null : params);
    const bytes = Buffer.byteLength(body);
    if (bytes > this.maxBodyBytes) throw messageTooLarge(`request for ${action}`, bytes, this.maxBodyBytes, false);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    metaToHeaders(budget === Infinity ? meta : { ...meta, deadlineMs: Math.floor(budget) }, headers);
    const text = await this.post(endpointUrl, '/' + encodeURIComponent(action), headers, body, budget);
    if (text.status === 200) {
      try {
        return (text.body.length === 0 ? undefined : JSON.parse(text.body)) as T;
      } catch (err) {
        throw protocolError({ endpoint: endpointUrl, instance: text.instance }, `response is not JSON: ${(err as Error).message}`, true);
      }
    }
    throw errorFromResponse(endpointUrl, text.status, text.body, text.instance);
  }

  async emit(endpointUrl: string, event: string, payload: unknown, meta?: CallMeta): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    metaToHeaders(meta, headers);
    const res = await this.post(endpointUrl, EVENT_PATH_PREFIX + encodeURIComponent(event), headers, JSON.stringify(payload ?? null), this.defaultTimeoutMs);
    if (res.status !== 202) throw errorFromResponse(endpointUrl, res.status, res.body, res.instance);
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }

  private async post(
    endpointUrl: string,
    path: string,
    headers: Record<string, string>,
    body: string,
    budget: number,
  ): Promise<{ status: number; body: string; instance: string | undefined }> {
    const pool = this.pool(endpointUrl);
    const abort = new AbortController();
    let timedOut = false;
    // Past 2^31-1 ms Node fires a timer after 1 ms instead; such a budget is as good as none.
    const timer =
      budget > 2 ** 31 - 1
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            abort.abort();
          }, budget);
    try {
      const res = await pool.request({ path, method: 'POST', headers, body, signal: abort.signal });
      const text = await res.body.text();
      const instance = res.headers[INSTANCE_HEADER];
      return { status: res.statusCode, body: text, instance: Array.isArray(instance) ? instance[0] : instance };
    } catch (err) {
      if (timedOut) throw callTimedOut({ endpoint: endpointUrl }, budget, true);
      if (this.closed) throw clientClosed(endpointUrl, true);
      const code = (err as { code?: string }).code;
      const message = (err as Error).message;
      if (code !== undefined && NOT_SENT_CODES.has(code)) throw connectionFailed(endpointUrl, message);
      throw connectionLost({ endpoint: endpointUrl }, true, message);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  private pool(endpointUrl: string): Pool {
    if (this.closed) throw clientClosed(endpointUrl, false);
    const origin = new URL(endpointUrl).origin;
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, { connections: this.connections, pipelining: 1, connectTimeout: this.connectTimeoutMs });
      this.pools.set(origin, pool);
    }
    return pool;
  }
}

/** A Shoal error body round-trips as the ShoalError it was; anything else is judged by status. */
function errorFromResponse(endpoint: string, status: number, body: string, instance: string | undefined): ShoalError {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'object' && parsed.error !== null) {
      const e = parsed.error as Record<string, unknown>;
      // A foreign server may omit retryable; it then promises nothing, so nothing is retried.
      const error = ShoalError.fromJSON({ retryable: false, ...e });
      return error.instance === undefined && instance !== undefined ? error.withInstance(instance) : error;
    }
  } catch {
    // not JSON: fall through to the status
  }
  return new ShoalError({
    code: codeForStatus(status),
    message: `HTTP ${status} from ${endpoint}${body.length > 0 ? `: ${body.slice(0, 200)}` : ''}`,
    retryable: false,
    instance,
    details: { status, maybeExecuted: true },
  });
}
