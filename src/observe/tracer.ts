// Spans with OpenTelemetry's SDK: a BasicTracerProvider per Observability (never registered as the
// global provider, so several services in one process keep their own resource and ring), ids
// cut from pooled random bytes. When the ring is the only consumer (no exporter, every new trace
// recorded), spans are recorded without the SDK's span objects (LiteSpan: same ids, flags,
// attributes, status and timing; test/observe/tracer.test.ts compares both). W3C trace context is read and written here directly (parseTraceparent
// once per incoming header, the outgoing header formatted once per span) rather than through the
// core propagator, which parsed every header a second time with a regex and built a context and a
// carrier per outgoing call; the headers are the same.
import { randomFillSync } from 'node:crypto';
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
  type IdGenerator,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { FinishedSpan, SpanHandle, Tracer } from './types.js';
import { SpanRing } from './span-ring.js';
import { SAMPLED_FLAG, parseTraceparent } from './traceparent.js';
import { STATUS_DESCRIPTION_ATTRIBUTE } from './span-ring.js';

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
  private readonly ids = new PooledIdGenerator();
  /**
   * Spans are recorded without the SDK when nothing but the ring receives them: no exporter, and
   * every new trace recorded (ParentBasedSampler over AlwaysOn decides only by the caller's
   * sampled flag). The SDK's span, context, sampler and processor objects per span cost more
   * than the rest of a cached call; LiteSpan keeps the same ids, flags, attributes, status and
   * timing, and the ring holds the same FinishedSpan. With an exporter or a ratio, the SDK runs.
   */
  private readonly lite: boolean;
  private readonly service: string;
  /**
   * The last traceparent a span of this tracer formatted, and its parts: the gateway's server
   * span formats its header, and its client span takes that header as parent in the same
   * synchronous run. Recognised by identity of the string, not parsed again.
   */
  private lastHeader: string | undefined;
  private lastTraceId = '';
  private lastSpanId = '';
  private lastFlags = 0;

  constructor(options: TracerOptions) {
    const ratio = options.sampleRatio ?? 1;
    if (!(ratio >= 0 && ratio <= 1)) throw new RangeError(`sampleRatio must be in [0, 1], got ${ratio}`);
    this.ring = new SpanRing(options.spanBuffer ?? 1000);
    this.service = options.service;
    this.lite = options.exporter === undefined && ratio === 1;
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
      idGenerator: this.ids,
    });
    this.tracer = this.provider.getTracer('shoal');
  }

  startSpan(
    name: string,
    options: { kind?: SpanKindName; parent?: string; attributes?: Record<string, string | number | boolean> } = {},
  ): SpanHandle {
    const kindName = options.kind ?? 'internal';
    const kind = KINDS[kindName];
    if (kind === undefined) throw new RangeError(`unknown span kind: ${String(options.kind)}`);
    let traceId: string | undefined;
    let parentSpanId = '';
    let parentFlags = 0;
    let invalidParent = false;
    const header = options.parent;
    if (header !== undefined) {
      if (header === this.lastHeader) {
        traceId = this.lastTraceId;
        parentSpanId = this.lastSpanId;
        parentFlags = this.lastFlags;
      } else {
        // An invalid header is marked on the span (which starts a new trace); a valid one becomes
        // the remote parent, as W3CTraceContextPropagator.extract would build it.
        const parent = parseTraceparent(header);
        if (parent === undefined) {
          invalidParent = true;
        } else {
          traceId = parent.traceId;
          parentSpanId = parent.parentId;
          parentFlags = parent.flags;
        }
      }
    }
    if (this.lite) {
      // ParentBasedSampler with an AlwaysOn root: a new trace is recorded; a child follows its
      // parent's sampled flag.
      const recorded = traceId === undefined || (parentFlags & SAMPLED_FLAG) === SAMPLED_FLAG;
      const span = new LiteSpan(this, name, kindName, traceId ?? this.ids.generateTraceId(), this.ids.generateSpanId(), traceId === undefined ? undefined : parentSpanId, recorded, options.attributes);
      if (invalidParent) span.setAttribute(INVALID_PARENT_ATTRIBUTE, true);
      return span;
    }
    const parentContext = traceId === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: parentSpanId, traceFlags: parentFlags, isRemote: true });
    const span = this.tracer.startSpan(name, { kind, attributes: options.attributes }, parentContext);
    if (invalidParent) span.setAttribute(INVALID_PARENT_ATTRIBUTE, true);
    return new OtelSpanHandle(span, this);
  }

  /** A span formatted its traceparent (it is about to be some span's parent). */
  formatted(header: string, traceId: string, spanId: string, flags: number): void {
    this.lastHeader = header;
    this.lastTraceId = traceId;
    this.lastSpanId = spanId;
    this.lastFlags = flags;
  }

  /** A recorded LiteSpan ended. */
  record(span: FinishedSpan): void {
    this.ring.add(span);
  }

  get serviceName(): string {
    return this.service;
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

/** Bytes of randomness drawn at once; ids are cut from its hex text. */
const ID_POOL_BYTES = 4096;
const ZERO_ID = /^0+$/;

/**
 * OTel's RandomIdGenerator allocates a buffer and hex-encodes it per id; this draws 4 KiB of
 * cryptographic randomness at a time and cuts ids (32 / 16 hex digits) from its hex text. An
 * all-zero id is invalid in W3C trace context, so its last digit is made 1 (as OTel does).
 */
class PooledIdGenerator implements IdGenerator {
  private pool = '';
  private at = 0;
  private readonly bytes = Buffer.allocUnsafe(ID_POOL_BYTES);

  generateTraceId(): string {
    return this.take(32);
  }

  generateSpanId(): string {
    return this.take(16);
  }

  private take(digits: number): string {
    if (this.at + digits > this.pool.length) {
      randomFillSync(this.bytes);
      this.pool = this.bytes.toString('hex');
      this.at = 0;
    }
    const id = this.pool.slice(this.at, this.at + digits);
    this.at += digits;
    return ZERO_ID.test(id) ? `${id.slice(0, -1)}1` : id;
  }
}

class OtelSpanHandle implements SpanHandle {
  readonly traceId: string;
  readonly spanId: string;
  private ended = false;
  private header: string | undefined;

  constructor(
    private readonly span: Span,
    private readonly tracer: ShoalTracer,
  ) {
    const context = span.spanContext();
    this.traceId = context.traceId;
    this.spanId = context.spanId;
  }

  traceparent(): string {
    // Formatted once per span (it is sent with every attempt and every downstream call); the
    // same text the W3C propagator injects: version 00, ids, flags as two hex digits.
    // The ids come from the SDK's generator or a header parseTraceparent accepted: valid.
    if (this.header === undefined) {
      const flags = this.span.spanContext().traceFlags & 0xff;
      this.header = `00-${this.traceId}-${this.spanId}-${flags.toString(16).padStart(2, '0')}`;
      this.tracer.formatted(this.header, this.traceId, this.spanId, flags);
    }
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

/** OTel's default attributeCountLimit: further new keys are dropped. */
const ATTRIBUTE_COUNT_LIMIT = 128;

function isAttributeValue(value: unknown): value is string | number | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
}

/**
 * A span recorded straight into the ring (see ShoalTracer.lite), with the SDK span's rules: an
 * unsampled span propagates (flags 00) but records nothing; attributes and status are ignored
 * after end; invalid attributes are dropped; the last failure sets the status.
 */
class LiteSpan implements SpanHandle {
  private readonly startedAt = performance.now();
  /** Wall clock of the start, as the SDK's span takes it (Date.now, refined by the monotonic clock). */
  private readonly startedWallMs = Date.now();
  private readonly attributes: Record<string, string | number | boolean> = {};
  private attributeCount = 0;
  private status: string | undefined;
  private ended = false;
  private header: string | undefined;

  constructor(
    private readonly tracer: ShoalTracer,
    private readonly name: string,
    private readonly kind: SpanKindName,
    readonly traceId: string,
    readonly spanId: string,
    private readonly parentSpanId: string | undefined,
    private readonly recorded: boolean,
    attributes: Record<string, string | number | boolean> | undefined,
  ) {
    if (recorded && attributes !== undefined) for (const key in attributes) this.setAttribute(key, attributes[key]!);
  }

  traceparent(): string {
    if (this.header === undefined) {
      this.header = `00-${this.traceId}-${this.spanId}-${this.recorded ? '01' : '00'}`;
      this.tracer.formatted(this.header, this.traceId, this.spanId, this.recorded ? SAMPLED_FLAG : 0);
    }
    return this.header;
  }

  setAttribute(key: string, value: string | number | boolean): void {
    if (!this.recorded || this.ended || key === '' || !isAttributeValue(value)) return;
    if (!(key in this.attributes)) {
      if (this.attributeCount >= ATTRIBUTE_COUNT_LIMIT) return;
      this.attributeCount++;
    }
    this.attributes[key] = value;
  }

  fail(error: unknown): void {
    if (!this.recorded || this.ended) return;
    const { code, message } = describeError(error);
    this.setAttribute('error.type', code);
    this.status = message === '' ? code : `${code}: ${message}`;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.recorded) return;
    // Ended: nothing changes the attributes any more, so the finished span takes them as they are.
    const attributes: Record<string, unknown> = this.attributes;
    if (this.status !== undefined) attributes[STATUS_DESCRIPTION_ATTRIBUTE] = this.status;
    const now = performance.now();
    this.tracer.record({
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      name: this.name,
      kind: this.kind,
      startMs: this.startedWallMs,
      durationMs: Math.max(0, now - this.startedAt),
      ok: this.status === undefined,
      attributes,
      service: this.tracer.serviceName,
    });
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
