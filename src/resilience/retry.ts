import { isShoalError } from '../errors/index.js';
import { DEFAULT_BACKOFF, fullJitterBackoff, type BackoffOptions } from './backoff.js';
import { Deadline } from './deadline.js';
import type { RetryBudget } from './retry-budget.js';
import type { Clock, Rng } from './types.js';

export interface RetryOptions {
  clock: Clock;
  rng: Rng;
  /** Attempts in all, the first included. */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Shared by every call to one service, so the cap holds across calls. */
  budget?: RetryBudget;
  onRetry?: (event: { attempt: number; delayMs: number; error: unknown }) => void;
  onGiveUp?: (event: { attempt: number; reason: GiveUpReason; error: unknown }) => void;
}

export type GiveUpReason = 'not-retryable' | 'attempts' | 'deadline' | 'budget';

export interface RetryCall {
  /** Repeating the action has no extra effect (reads, PUT-like writes, writes with an idempotency key). */
  idempotent: boolean;
  deadline?: Deadline;
}

export interface Attempt {
  /** 1 for the first try. */
  attempt: number;
  deadline: Deadline;
}

/**
 * May this error be retried? A ShoalError decides for itself (its producer knows whether the
 * request ran); anything else — a socket error, a timeout — is retried only for idempotent
 * actions, since the action may have run.
 */
export function isRetryAllowed(error: unknown, idempotent: boolean): boolean {
  return isShoalError(error) ? error.retryable : idempotent;
}

/** Retries with full-jitter exponential backoff, inside the call's deadline and a retry budget. */
export class Retry {
  private readonly maxAttempts: number;
  private readonly backoff: BackoffOptions;

  constructor(private readonly options: RetryOptions) {
    this.maxAttempts = options.maxAttempts ?? 3;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new RangeError(`retry: maxAttempts must be an integer >= 1, got ${this.maxAttempts}`);
    }
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  }

  async execute<T>(work: (attempt: Attempt) => Promise<T>, call: RetryCall): Promise<T> {
    const { clock, rng, budget } = this.options;
    const deadline = call.deadline ?? Deadline.NONE;
    budget?.recordRequest(clock.now());
    for (let attempt = 1; ; attempt++) {
      deadline.check(clock.now(), attempt === 1 ? 'the call' : `retry ${attempt - 1}`);
      try {
        return await work({ attempt, deadline });
      } catch (error) {
        const giveUp = (reason: GiveUpReason): never => {
          this.options.onGiveUp?.({ attempt, reason, error });
          throw error;
        };
        if (!isRetryAllowed(error, call.idempotent)) giveUp('not-retryable');
        if (attempt >= this.maxAttempts) giveUp('attempts');
        const delayMs = fullJitterBackoff(attempt, rng, this.backoff);
        // Waiting past the deadline only to fail with DEADLINE_EXCEEDED would hide the real cause.
        if (deadline.remaining(clock.now()) <= delayMs) giveUp('deadline');
        if (budget !== undefined && !budget.tryAcquireRetry(clock.now())) giveUp('budget');
        this.options.onRetry?.({ attempt, delayMs, error });
        await clock.sleep(delayMs);
      }
    }
  }
}
