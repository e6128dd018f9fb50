// Spans with OpenTelemetry's SDK: a BasicTracerProvider per Observability (never registered as the
// global provider, so several services in one process keep their own resource and ring), ids
// from the SDK's generator. W3C trace context is read and written here directly (parseTraceparent
// once per incoming header, the outgoing header formatted once per span) rather than through the
// core propagator, which parsed every header a second time with a regex and built a context and a
// carrier per outgoing call; the headers are the same.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type Tracer as OtelTracer,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { FinishedSpan, SpanHandle, Tracer } from './types.js';
import { SpanRing } from './span-ring.js';
import { parseTraceparent } from './traceparent.js';

/** Incubating in semantic-conventions, so copied here as its docs recommend. */
const ATTR_SERVICE_INSTANCE_ID = 'service.instance.id';
/** Set on a span whose caller sent a `traceparent` we could not parse (it starts a new trace). */
export const INVALID_PARENT_ATTRIBUTE = 'shoal.invalid_traceparent';
/** Error messages on spans are cut here: enough to read, too short to carry a payload. */
const MAX_ERROR_MESSAGE = 200;

export type SpanKindName = 'server' | 'client' | 'internal' | 'producer' | 'consumer';

const KINDS: Record<SpanKindName, SpanKind> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

export interface TracerOptions {
  service: string;
  instanceId: string;
  /** Finished spans kept for recentSpans; default 1,000. */
  spanBuffer?: number;
  /** Also sends every finished span here (batched). */
  exporter?: SpanExporter;
  /**
   * Share of new traces (no incoming parent) that are recorded, 0..1; default 1. A caller's
   * sampled flag is always followed. An unsampled span still has ids and propagates (flags 00),
   * but is an OTel non-recording span: no attributes, ring or exporter work.
   */
  sampleRatio?: number;
}

export class ShoalTracer implements Tracer {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: OtelTracer;
  private readonly ring: SpanRing;

  constructor(options: TracerOptions) {
    const ratio = options.sampleRatio ?? 1;
    if (!(ratio >= 0 && ratio <= 1)) throw new RangeError(`sampleRatio must be in [0, 1], got ${ratio}`);
    this.ring = new SpanRing(options.spanBuffer ?? 1000);
    const spanProcessors: SpanProcessor[] = [this.ring];
    if (options.exporter) spanProcessors.push(new BatchSpanProcessor(options.exporter));
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.service,
        [ATTR_SERVICE_INSTANCE_ID]: options.instanceId,
      }),
      // Explicit, so OTEL_TRACES_SAMPLER in the environment cannot change what tests see. A caller
      // that sent sampled=0 gets a non-recorded span: it propagates but is neither kept nor exported.
      sampler: new ParentBasedSampler({ root: ratio === 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(ratio) }),
      spanProcessors,
    });
    this.tracer = this.provider.getTracer('shoal');
  }

  startSpan(
    name: string,
    options: { kind?: SpanKindName; parent?: string; attributes?: Record<string, string | number | boolean> } = {},
  ): SpanHandle {
    const kind = KINDS[options.kind ?? 'internal'];
    if (kind === undefined) throw new RangeError(`unknown span kind: ${String(options.kind)}`);
    let parentContext = ROOT_CONTEXT;
    let invalidParent = false;
    if (options.parent !== undefined) {
      // An invalid header is marked on the span (which starts a new trace); a valid one becomes
      // the remote parent context, as W3CTraceContextPropagator.extract would build it.
      const parent = parseTraceparent(options.parent);
      if (parent === undefined) invalidParent = true;
      else parentContext = trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.parentId, traceFlags: parent.flags, isRemote: true });
    }
    const span = this.tracer.startSpan(name, { kind, attributes: options.attributes }, parentContext);
    if (invalidParent) span.setAttribute(INVALID_PARENT_ATTRIBUTE, true);
    return new OtelSpanHandle(span);
  }

  recentSpans(limit?: number): readonly FinishedSpan[] {
    return this.ring.recent(limit);
  }

  /** Hands every finished span to the exporter now (it is batched otherwise). */
  forceFlush(): Promise<void> {
    return this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

class OtelSpanHandle implements SpanHandle {
  readonly traceId: string;
  readonly spanId: string;
  private ended = false;
  private header: string | undefined;

  constructor(private readonly span: Span) {
    const context = span.spanContext();
    this.traceId = context.traceId;
    this.spanId = context.spanId;
  }

  traceparent(): string {
    // Formatted once per span (it is sent with every attempt and every downstream call); the
    // same text the W3C propagator injects: version 00, ids, flags as two hex digits.
    // The ids come from the SDK's generator or a header parseTraceparent accepted: valid.
    this.header ??= `00-${this.traceId}-${this.spanId}-${(this.span.spanContext().traceFlags & 0xff).toString(16).padStart(2, '0')}`;
    return this.header;
  }

  setAttribute(key: string, value: string | number | boolean): void {
    this.span.setAttribute(key, value);
  }

  fail(error: unknown): void {
    const { code, message } = describeError(error);
    this.span.setAttribute('error.type', code);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: message === '' ? code : `${code}: ${message}` });
  }

  end(): void {
    // Idempotent: a handler's finally and an abort path may both end the span.
    if (this.ended) return;
    this.ended = true;
    this.span.end();
  }
}

/** Code and message only: never the error's details, params, cause or stack. */
function describeError(error: unknown): { code: string; message: string } {
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    return {
      code: typeof code === 'string' && code !== '' ? code.slice(0, 64) : error instanceof Error ? 'INTERNAL' : 'UNKNOWN',
      message: typeof message === 'string' ? clip(message) : '',
    };
  }
  return { code: 'UNKNOWN', message: typeof error === 'string' ? clip(error) : '' };
}

function clip(message: string): string {
  return message.length <= MAX_ERROR_MESSAGE ? message : `${message.slice(0, MAX_ERROR_MESSAGE)}…`;
}
