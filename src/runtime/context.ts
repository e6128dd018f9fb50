// The Context a handler receives. Built per call, so the costly parts (the child logger, the
// abort signal and its timer) are made only when a handler touches them.
import type { Logger } from 'pino';
import type { SpanHandle } from '../observe/types.js';
import { ErrorCode, ShoalError } from '../errors/index.js';
import type { Deadline } from '../resilience/index.js';
import type { CallPipeline } from './pipeline.js';
import type { CallOptions, Context, EmitOptions, EventContext } from './types.js';
import type { AnyTransaction } from './types.js';

/** Emits an event for a service (its outbox); the traceparent links the push to the emitting span. */
export interface Emitter {
  emit(event: string, payload: unknown, options: EmitOptions | undefined, traceparent: string | undefined): Promise<void>;
}

/** What every context of one service instance shares. */
export interface ContextScope {
  readonly instanceId: string;
  readonly logger: Logger;
  readonly pipeline: CallPipeline;
  readonly emitter: Emitter;
  readonly now: () => number;
  /** Aborted when the host stops hard. */
  readonly hostSignal: AbortSignal;
}

export class HandlerContext<P> implements Context<P> {
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private childLogger: Logger | undefined;

  constructor(
    readonly params: P,
    readonly meta: Readonly<Record<string, unknown>>,
    private readonly deadline: Deadline,
    private readonly span: SpanHandle,
    private readonly scope: ContextScope,
    private readonly name: string,
  ) {}

  get instanceId(): string {
    return this.scope.instanceId;
  }

  remainingMs(): number {
    return this.deadline.isNone ? Infinity : this.deadline.remaining(this.scope.now());
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      const abort = (why: string): void => {
        if (!controller.signal.aborted) controller.abort(new ShoalError({ code: why === 'deadline' ? ErrorCode.DEADLINE_EXCEEDED : ErrorCode.CANCELLED, message: `${this.name}: ${why}`, retryable: false }));
      };
      if (this.scope.hostSignal.aborted) abort('instance stopped');
      else this.scope.hostSignal.addEventListener('abort', () => abort('instance stopped'), { once: true });
      const remaining = this.remainingMs();
      if (remaining !== Infinity) {
        if (remaining <= 0) abort('deadline');
        else this.timer = setTimeout(() => abort('deadline'), Math.min(remaining, 2 ** 31 - 1));
      }
    }
    return this.controller.signal;
  }

  get logger(): Logger {
    this.childLogger ??= this.scope.logger.child({ traceId: this.span.traceId, spanId: this.span.spanId, action: this.name });
    return this.childLogger;
  }

  call<T = unknown>(action: string, params?: unknown, options?: CallOptions): Promise<T> {
    return this.scope.pipeline.call<T>(action, params, options, { deadline: this.deadline, traceparent: this.span.traceparent(), meta: this.meta });
  }

  emit(event: string, payload: unknown, options?: EmitOptions): Promise<void> {
    return this.scope.emitter.emit(event, payload, options, this.span.traceparent());
  }

  /** Called when the handler settled: stops the deadline timer. */
  finish(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

export class HandlerEventContext<P> extends HandlerContext<P> implements EventContext<P> {
  constructor(
    params: P,
    meta: Readonly<Record<string, unknown>>,
    deadline: Deadline,
    span: SpanHandle,
    scope: ContextScope,
    readonly event: string,
    readonly eventId: string,
    readonly trx: AnyTransaction,
  ) {
    super(params, meta, deadline, span, scope, event);
  }
}
