// The last N finished spans of this process, kept in memory for tests and the dashboard. A span
// processor, so it sees exactly what an exporter would (recorded spans only).
import { SpanKind, SpanStatusCode, type Context } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { FinishedSpan } from './types.js';

const KIND_NAMES: Record<SpanKind, string> = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};

/** The status description, shown with the attributes under the name OTel's exporters give it. */
export const STATUS_DESCRIPTION_ATTRIBUTE = 'otel.status_description';

export function toFinishedSpan(span: ReadableSpan): FinishedSpan {
  const context = span.spanContext();
  const ok = span.status.code !== SpanStatusCode.ERROR;
  const attributes: Record<string, unknown> = { ...span.attributes };
  if (!ok && span.status.message) attributes[STATUS_DESCRIPTION_ATTRIBUTE] = span.status.message;
  const service = span.resource.attributes[ATTR_SERVICE_NAME];
  return {
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    name: span.name,
    kind: KIND_NAMES[span.kind] ?? 'internal',
    startMs: hrTimeToMilliseconds(span.startTime),
    durationMs: hrTimeToMilliseconds(span.duration),
    ok,
    attributes,
    service: typeof service === 'string' ? service : 'unknown',
  };
}

function isFinished(span: ReadableSpan | FinishedSpan): span is FinishedSpan {
  return typeof (span as Partial<ReadableSpan>).spanContext !== 'function';
}

export class SpanRing implements SpanProcessor {
  /** Ended spans as the SDK hands them over (immutable once ended); converted when read, not per span. */
  private readonly slots: (ReadableSpan | FinishedSpan | undefined)[];
  /** Total spans ever added; the next one goes to slots[added % capacity]. */
  private added = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`span buffer must be a positive integer, got ${capacity}`);
    this.slots = new Array<ReadableSpan | FinishedSpan | undefined>(capacity);
  }

  onStart(_span: Span, _parentContext: Context): void {}

  onEnd(span: ReadableSpan): void {
    this.slots[this.added % this.capacity] = span;
    this.added++;
  }

  /** A span recorded without the SDK (ShoalTracer's lite spans), already in its finished form. */
  add(span: FinishedSpan): void {
    this.slots[this.added % this.capacity] = span;
    this.added++;
  }

  /** Up to `limit` most recent spans, oldest first (the order they ended in). */
  recent(limit = this.capacity): FinishedSpan[] {
    const wanted = Number.isNaN(limit) ? this.capacity : Math.max(0, Math.floor(limit));
    const count = Math.min(wanted, this.added, this.capacity);
    const out: FinishedSpan[] = [];
    for (let i = this.added - count; i < this.added; i++) {
      const slot = i % this.capacity;
      const span = this.slots[slot];
      if (span === undefined) throw new Error('span ring invariant: slot within the window is empty');
      if (isFinished(span)) {
        out.push(span);
      } else {
        const finished = toFinishedSpan(span);
        this.slots[slot] = finished;
        out.push(finished);
      }
    }
    return out;
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
