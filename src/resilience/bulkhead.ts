import { ErrorCode, ShoalError } from '../errors/index.js';

export interface BulkheadOptions {
  maxConcurrent: number;
  maxQueued?: number;
  /** Names the protected thing in rejection errors (a service, an endpoint). */
  name?: string;
}

interface Waiting {
  readonly signal: AbortSignal | undefined;
  readonly admit: () => void;
  readonly cancel: (error: ShoalError) => void;
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * Limits calls in flight and calls waiting, translating refusals into ShoalErrors. A rejection is
 * not retryable: the bulkhead is full because the protected dependency is saturated, and retrying
 * would add load at the moment it must shed it.
 *
 * A counter and a FIFO, not cockatiel's BulkheadPolicy: it sits on every remote call. With a free
 * slot nothing waits: tryEnter/leave is a counter (the call pipeline's path, no promise at all),
 * and execute runs `fn` at once — where cockatiel's added an async frame and wrappers per call.
 */
export class Bulkhead {
  private readonly name: string;
  private readonly maxQueued: number;
  private running = 0;
  private readonly waiting: Waiting[] = [];

  constructor(readonly options: BulkheadOptions) {
    const queued = options.maxQueued ?? 0;
    if (!Number.isInteger(options.maxConcurrent) || options.maxConcurrent < 1 || !Number.isInteger(queued) || queued < 0) {
      throw new RangeError('bulkhead: maxConcurrent must be an integer >= 1 and maxQueued an integer >= 0');
    }
    this.maxQueued = queued;
    this.name = options.name ?? 'bulkhead';
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Takes a slot if one is free, for a caller that runs its work itself and calls leave() once
   * it is done (the call pipeline's path: no closure, no extra promise). False when it must
   * queue or be refused: then use execute.
   */
  tryEnter(): boolean {
    if (this.running >= this.options.maxConcurrent) return false;
    this.running++;
    return true;
  }

  /** Gives back a slot taken by tryEnter, acquire or execute, letting waiting calls in. */
  leave(): void {
    if (this.running <= 0) throw new Error('bulkhead: more slots given back than were taken');
    this.running--;
    while (this.running < this.options.maxConcurrent && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      // Cancelled while it waited: it never runs, and the slot goes to the next one.
      if (next.signal?.aborted === true) {
        next.cancel(this.cancelled());
        continue;
      }
      this.running++;
      next.admit();
    }
  }

  /**
   * A slot, now or once one frees up (FIFO); refused at once when the queue is full too. The
   * caller owns the slot once the promise resolves and must leave() after its work.
   */
  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) return Promise.reject(this.cancelled());
    if (this.tryEnter()) return Promise.resolve();
    if (this.waiting.length >= this.maxQueued) return Promise.reject(this.rejection());
    return new Promise<void>((admit, cancel) => this.waiting.push({ signal, admit, cancel }));
  }

  execute<T>(fn: (signal: AbortSignal) => Promise<T> | T, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted === true) return Promise.reject(this.cancelled());
    if (this.tryEnter()) return this.run(fn, signal);
    return this.acquire(signal).then(() => this.run(fn, signal));
  }

  /** The error for a call refused because every slot and queue place is taken. */
  rejection(): ShoalError {
    return new ShoalError({
      code: ErrorCode.BULKHEAD_REJECTED,
      message: `${this.name}: ${this.options.maxConcurrent} calls running and ${this.maxQueued} queued`,
      retryable: false,
      details: { maxConcurrent: this.options.maxConcurrent, maxQueued: this.maxQueued },
    });
  }

  /** Runs fn in a slot already taken, giving it back when fn settles. */
  private run<T>(fn: (signal: AbortSignal) => Promise<T> | T, signal: AbortSignal | undefined): Promise<T> {
    let result: Promise<T> | T;
    try {
      result = fn(signal ?? NEVER_ABORTED);
    } catch (err) {
      this.leave();
      return Promise.reject(err);
    }
    if (!(result instanceof Promise)) {
      this.leave();
      return Promise.resolve(result);
    }
    return result.finally(this.leaver);
  }

  private readonly leaver = (): void => this.leave();

  private cancelled(): ShoalError {
    return new ShoalError({ code: ErrorCode.CANCELLED, message: `${this.name}: call cancelled`, retryable: false });
  }
}
