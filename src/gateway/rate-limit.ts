// Rate limits applied in our own order: per client IP before anything else (so floods cost
// nothing beyond a counter), then per user once the token is verified, plus a tight per-IP limit
// on routes that check passwords.
//
// Fixed windows counted in memory, with @fastify/rate-limit's local-store semantics (a key's
// window starts at its first request; a request is over the limit when the window's count
// exceeds max; x-ratelimit-limit / x-ratelimit-remaining on every limited-route answer), but
// synchronous: the plugin's limiter was an async function with a promise around its store per
// check, two or three per request.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

export interface RateLimitOptions {
  /** Requests per client IP per window. Default 600. */
  max?: number;
  /** Requests per authenticated user per window. Default 300. */
  userMax?: number;
  /** Password checks (login, password grant) per client IP per window. Default 30. */
  credentialsMax?: number;
  /** Window length in ms. Default 60,000. */
  timeWindowMs?: number;
  /** Keys remembered per limit; past it the oldest is forgotten. Default 10,000. */
  maxKeys?: number;
  /** ms clock. Default Date.now. */
  now?: () => number;
  /**
   * Processes sharing the budget (gateway cluster workers, each counting in its own memory): each
   * enforces max / processes, at least 1. Connections are dealt round-robin to workers, so a
   * client with many connections gets about the configured total; one keep-alive connection is
   * pinned to one worker and gets its share only — the safe side for a limit (never N × max).
   * Default 1.
   */
  processes?: number;
}

export interface RateLimiters {
  /** Throws HttpError 429 when the client IP (or, on password routes, its password checks) is over the limit. */
  byIp(request: FastifyRequest, reply: FastifyReply): void;
  /** Throws HttpError 429 when the request's verified user is over the limit. */
  byUser(request: FastifyRequest, reply: FastifyReply): void;
}

interface Window {
  startedAt: number;
  count: number;
}

/** One limit: a counter per key per fixed window. */
export class FixedWindowLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    readonly max: number,
    private readonly windowMs: number,
    private readonly maxKeys: number,
    private readonly now: () => number,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError('rate limit max must be a positive integer');
    if (!(windowMs > 0)) throw new TypeError('rate limit window must be positive');
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new TypeError('rate limit maxKeys must be a positive integer');
  }

  /** Counts one request for `key`: its count in the current window and the ms left in it. */
  hit(key: string): { count: number; ttlMs: number } {
    const now = this.now();
    let w = this.windows.get(key);
    if (w === undefined || w.startedAt + this.windowMs <= now) {
      if (w === undefined && this.windows.size >= this.maxKeys) this.evict(now);
      w = { startedAt: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count++;
    return { count: w.count, ttlMs: this.windowMs - (now - w.startedAt) };
  }

  /** Drops ended windows; if none has ended, the oldest key (insertion order). */
  private evict(now: number): void {
    for (const [key, w] of this.windows) {
      if (w.startedAt + this.windowMs <= now) this.windows.delete(key);
    }
    if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
  }
}

export function createRateLimiters(options: RateLimitOptions): RateLimiters {
  const windowMs = options.timeWindowMs ?? 60_000;
  const maxKeys = options.maxKeys ?? 10_000;
  const now = options.now ?? Date.now;
  const processes = options.processes ?? 1;
  if (!Number.isInteger(processes) || processes < 1) throw new TypeError('rateLimit.processes must be a positive integer');
  /** This process's share of a configured budget (validated). */
  const perProcess = (n: number, what: string): number => {
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`rateLimit.${what} must be a positive integer`);
    return Math.max(1, Math.floor(n / processes));
  };
  const ip = new FixedWindowLimiter(perProcess(options.max ?? 600, 'max'), windowMs, maxKeys, now);
  const credentials = new FixedWindowLimiter(perProcess(options.credentialsMax ?? 30, 'credentialsMax'), windowMs, maxKeys, now);
  const user = new FixedWindowLimiter(perProcess(options.userMax ?? 300, 'userMax'), windowMs, maxKeys, now);

  function enforce(limiter: FixedWindowLimiter, key: string, reply: FastifyReply, scope: string): void {
    const { count, ttlMs } = limiter.hit(key);
    reply.header('x-ratelimit-limit', limiter.max);
    reply.header('x-ratelimit-remaining', Math.max(0, limiter.max - count));
    if (count <= limiter.max) return;
    const retryAfter = String(Math.max(1, Math.ceil(ttlMs / 1000)));
    throw new HttpError(429, 'RATE_LIMITED', `too many requests (${scope}); retry after ${retryAfter} s`, {
      details: { retryAfterSeconds: Number(retryAfter) },
      headers: { 'retry-after': retryAfter },
    });
  }

  return {
    byIp(request, reply) {
      enforce(ip, request.ip, reply, 'client');
      if (request.routeOptions.config?.credentials === true) enforce(credentials, request.ip, reply, 'credential checks');
    },
    byUser(request, reply) {
      if (request.identity !== null) enforce(user, request.identity.sub, reply, 'user');
    },
  };
}
