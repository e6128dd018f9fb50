// A small HTTP client for the shop's gateway used by the orders chaos test and bench/orders.
// Every request names its own client address in X-Forwarded-For (the gateway runs with
// SHOAL_TRUST_PROXY=1 here): many simulated clients, so the per-IP limit (600/min) applies to each
// of them as it would in front of real users instead of refusing one loopback address.
import { Pool } from 'undici';

export interface Answer {
  /** HTTP status; 0 when the request ended without one (timeout, connection error). */
  status: number;
  body: Record<string, unknown> | undefined;
  /** The body's error.code, or the client error's code when status is 0. */
  error?: string;
}

export interface RequestOptions {
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  /** Bound on the whole request (headers and body). Default 20 s. */
  timeoutMs?: number;
}

export class ShopClient {
  readonly pool: Pool;
  #client = 0;

  constructor(origin: string, connections = 128) {
    this.pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  }

  /** A fresh simulated client address per request (10.x.y.z). */
  #forwardedFor(): string {
    const n = this.#client++;
    return `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }

  async send(method: 'GET' | 'POST' | 'PATCH', path: string, options: RequestOptions = {}): Promise<Answer> {
    const timeoutMs = options.timeoutMs ?? 20_000;
    const headers: Record<string, string> = { 'x-forwarded-for': this.#forwardedFor(), ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    try {
      const res = await this.pool.request({
        path,
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await res.body.text();
      let body: Record<string, unknown> | undefined;
      try {
        body = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
      } catch {
        body = undefined;
      }
      const answer: Answer = { status: res.statusCode, body };
      if (res.statusCode >= 300) answer.error = String((body?.error as { code?: string } | undefined)?.code ?? res.statusCode);
      return answer;
    } catch (err) {
      const e = err as { code?: unknown; name?: string; message?: string };
      // An abort by AbortSignal.timeout is a DOMException (numeric code 23): name it by its name.
      return { status: 0, body: undefined, error: typeof e.code === 'string' ? e.code : (e.name ?? String(e.message)) };
    }
  }

  /** Like send, but a non-2xx answer is an error (setup steps that must work). Retries 5xx/0 up to `attempts`. */
  async must(method: 'GET' | 'POST' | 'PATCH', path: string, options: RequestOptions = {}, attempts = 5): Promise<Record<string, unknown>> {
    let last: Answer | undefined;
    for (let i = 0; i < attempts; i++) {
      last = await this.send(method, path, options);
      if (last.status >= 200 && last.status < 300) return last.body ?? {};
      if (last.status !== 0 && last.status < 500 && last.status !== 429) break;
      await new Promise((r) => setTimeout(r, 200 * (i + 1)));
    }
    throw new Error(`${method} ${path}: ${last?.status} ${JSON.stringify(last?.body ?? last?.error)}`);
  }

  async login(email: string, password: string): Promise<string> {
    const body = await this.must('POST', '/api/v1/auth/login', { body: { email, password } });
    return body.access_token as string;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; resolves with the results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
