import { ErrorCode, ShoalError } from '../errors/index.js';

/** Header carrying the caller's remaining budget, in whole milliseconds. */
export const DEADLINE_HEADER = 'shoal-deadline-ms';

/** Budgets above this in a header are refused (a typo or an attack, not a real deadline). */
const MAX_HEADER_BUDGET_MS = 24 * 60 * 60 * 1000;

export function deadlineExceeded(message = 'deadline exceeded', details?: Record<string, unknown>): ShoalError {
  return new ShoalError({ code: ErrorCode.DEADLINE_EXCEEDED, message, retryable: false, details });
}

/**
 * An absolute point on the local monotonic clock by which a call must be done. It crosses process
 * boundaries as the remaining budget, not as a timestamp, because clocks of different hosts do
 * not agree; the receiver re-anchors it on its own clock. Time spent in transit is therefore not
 * charged, which errs on the side of doing the work.
 */
export class Deadline {
  static readonly NONE = new Deadline(Infinity);

  private constructor(readonly at: number) {
    if (Number.isNaN(at)) throw new RangeError('deadline: NaN');
  }

  static at(atMs: number): Deadline {
    return new Deadline(atMs);
  }

  static after(now: number, budgetMs: number): Deadline {
    if (!(budgetMs >= 0)) throw new RangeError(`deadline: budget must be >= 0, got ${budgetMs}`);
    return new Deadline(now + budgetMs);
  }

  /** Re-anchors a propagated budget; no header means no deadline from upstream. */
  static fromHeader(value: string | undefined, now: number): Deadline {
    if (value === undefined) return Deadline.NONE;
    if (!/^\d{1,9}$/.test(value.trim()) || Number(value) > MAX_HEADER_BUDGET_MS) {
      throw new ShoalError({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `${DEADLINE_HEADER}: expected whole milliseconds up to ${MAX_HEADER_BUDGET_MS}, got "${value}"`,
        retryable: false,
      });
    }
    return Deadline.after(now, Number(value));
  }

  get isNone(): boolean {
    return this.at === Infinity;
  }

  remaining(now: number): number {
    return Math.max(0, this.at - now);
  }

  isExpired(now: number): boolean {
    return this.at <= now;
  }

  /** Throws DEADLINE_EXCEEDED if the deadline has passed: a spent deadline does no more work. */
  check(now: number, doing?: string): void {
    if (this.isExpired(now)) {
      throw deadlineExceeded(doing === undefined ? 'deadline exceeded' : `deadline exceeded before ${doing}`, {
        overByMs: now - this.at,
      });
    }
  }

  /** The budget to send downstream, floored so the callee never gets more time than we have. */
  toHeader(now: number): string | undefined {
    if (this.isNone) return undefined;
    const budget = Math.floor(this.remaining(now));
    if (budget <= 0) throw deadlineExceeded('deadline exceeded before sending downstream');
    return String(budget);
  }

  /** The tighter of two deadlines (a caller's own timeout inside an inherited budget). */
  min(other: Deadline): Deadline {
    return other.at < this.at ? other : this;
  }
}

/**
 * Runs `work` only if the deadline still has time, handing it the remaining budget. The guard
 * every downstream step goes through, so a spent deadline never starts one.
 */
export async function withinDeadline<T>(
  deadline: Deadline,
  now: number,
  work: (remainingMs: number) => Promise<T> | T,
): Promise<T> {
  deadline.check(now);
  return work(deadline.remaining(now));
}
