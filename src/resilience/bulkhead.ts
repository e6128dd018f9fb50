import { BulkheadPolicy, BulkheadRejectedError, TaskCancelledError } from 'cockatiel';
import { ErrorCode, ShoalError } from '../errors/index.js';

export interface BulkheadOptions {
  maxConcurrent: number;
  maxQueued?: number;
  /** Names the protected thing in rejection errors (a service, an endpoint). */
  name?: string;
}

/**
 * Limits calls in flight and calls waiting, on cockatiel's BulkheadPolicy (no time involved, so
 * nothing to inject), translating its errors into ShoalErrors. A rejection is not retryable: the
 * bulkhead is full because the protected dependency is saturated, and retrying would add load at
 * the moment it must shed it.
 */
export class Bulkhead {
  private readonly policy: BulkheadPolicy;
  private readonly name: string;

  constructor(readonly options: BulkheadOptions) {
    const queued = options.maxQueued ?? 0;
    if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1 || !Number.isInteger(queued) || queued < 0) {
      throw new RangeError('bulkhead: maxConcurrent must be an integer >= 1 and maxQueued an integer >= 0');
    }
    this.policy = new BulkheadPolicy(options.maxConcurrent, queued);
    this.name = options.name ?? 'bulkhead';
  }

  get active(): number {
    return this.options.maxConcurrent - this.policy.executionSlots;
  }

  get queued(): number {
    return (this.options.maxQueued ?? 0) - this.policy.queueSlots;
  }

  async execute<T>(fn: (signal: AbortSignal) => Promise<T> | T, signal?: AbortSignal): Promise<T> {
    try {
      return await this.policy.execute(({ signal: s }) => fn(s), signal);
    } catch (error) {
      if (error instanceof BulkheadRejectedError) {
        throw new ShoalError({
          code: ErrorCode.BULKHEAD_REJECTED,
          message: `${this.name}: ${this.options.maxConcurrent} calls running and ${this.options.maxQueued ?? 0} queued`,
          retryable: false,
          details: { maxConcurrent: this.options.maxConcurrent, maxQueued: this.options.maxQueued ?? 0 },
        });
      }
      if (error instanceof TaskCancelledError) {
        throw new ShoalError({ code: ErrorCode.CANCELLED, message: `${this.name}: call cancelled`, retryable: false });
      }
      throw error;
    }
  }
}
