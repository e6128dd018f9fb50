// Rate limits with @fastify/rate-limit's windows and store, applied in our own order: per client
// IP before anything else (so floods cost nothing beyond a counter), then per user once the
// token is verified, plus a tight per-IP limit on routes that check passwords.
import type { FastifyInstance, FastifyRequest, FastifyReply } from 'fastify';
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
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

export interface RateLimiters {
  byIp(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  byUser(request: FastifyRequest, reply: FastifyReply): Promise<void>;
}

/** Needs @fastify/rate-limit registered (global: false) on `app`. */
export function createRateLimiters(app: FastifyInstance, options: RateLimitOptions): RateLimiters {
  const timeWindow = options.timeWindowMs ?? 60_000;
  const positive = (n: number, what: string): number => {
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`rateLimit.${what} must be a positive integer`);
    return n;
  };
  const ip = app.createRateLimit({ max: positive(options.max ?? 600, 'max'), timeWindow, keyGenerator: (r) => `ip:${r.ip}` });
  const credentials = app.createRateLimit({ max: positive(options.credentialsMax ?? 30, 'credentialsMax'), timeWindow, keyGenerator: (r) => `pw:${r.ip}` });
  const user = app.createRateLimit({ max: positive(options.userMax ?? 300, 'userMax'), timeWindow, keyGenerator: (r) => `user:${r.identity?.sub ?? ''}` });

  async function enforce(limiter: Limiter, request: FastifyRequest, reply: FastifyReply, scope: string): Promise<void> {
    const result = await limiter(request);
    if (result.isAllowed) return;
    reply.header('x-ratelimit-limit', result.max);
    reply.header('x-ratelimit-remaining', result.remaining);
    if (!result.isExceeded) return;
    const retryAfter = String(Math.max(1, result.ttlInSeconds));
    throw new HttpError(429, 'RATE_LIMITED', `too many requests (${scope}); retry after ${retryAfter} s`, {
      details: { retryAfterSeconds: Number(retryAfter) },
      headers: { 'retry-after': retryAfter },
    });
  }

  return {
    async byIp(request, reply) {
      await enforce(ip, request, reply, 'client');
      if (request.routeOptions.config?.credentials === true) await enforce(credentials, request, reply, 'credential checks');
    },
    async byUser(request, reply) {
      if (request.identity !== null) await enforce(user, request, reply, 'user');
    },
  };
}
