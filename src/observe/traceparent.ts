// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
// `version-traceid-parentid-flags`, lowercase hex. The tracer validates an incoming header here
// before handing it to OpenTelemetry's propagator, so a bad header is a new trace, never a throw.
// Stricter than @opentelemetry/core's parseTraceParent in one way only: no surrounding whitespace
// (HTTP already trims it; a value in call meta has no business carrying any).

export interface Traceparent {
  /** Two hex digits; `00` is the only version defined so far, `ff` is forbidden. */
  readonly version: string;
  readonly traceId: string;
  /** The caller's span id (the spec calls it parent-id). */
  readonly parentId: string;
  /** Trace flags byte; bit 0 is "sampled". */
  readonly flags: number;
}

const HEX_ONLY = /^[0-9a-f]*$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
/** Length of `00-<32>-<16>-<2>`. */
const V00_LENGTH = 55;

export const SAMPLED_FLAG = 0x01;

export function isValidTraceId(id: string): boolean {
  return id.length === 32 && HEX_ONLY.test(id) && id !== ZERO_TRACE_ID;
}

export function isValidSpanId(id: string): boolean {
  return id.length === 16 && HEX_ONLY.test(id) && id !== ZERO_SPAN_ID;
}

/**
 * Parses a `traceparent`; undefined when it is invalid (the caller then starts a new trace).
 * A version above 00 is parsed by its first four fields, as the spec asks, so a future sender
 * still joins the trace; version 00 must be exactly 55 characters.
 */
export function parseTraceparent(header: unknown): Traceparent | undefined {
  if (typeof header !== 'string' || header.length < V00_LENGTH) return undefined;
  const version = header.slice(0, 2);
  if (!HEX_ONLY.test(version) || version === 'ff') return undefined;
  if (version === '00' ? header.length !== V00_LENGTH : header.length > V00_LENGTH && header[V00_LENGTH] !== '-') {
    return undefined;
  }
  if (header[2] !== '-' || header[35] !== '-' || header[52] !== '-') return undefined;
  const traceId = header.slice(3, 35);
  const parentId = header.slice(36, 52);
  const flags = header.slice(53, 55);
  if (!isValidTraceId(traceId) || !isValidSpanId(parentId) || !HEX_ONLY.test(flags)) return undefined;
  return { version, traceId, parentId, flags: Number.parseInt(flags, 16) };
}

export function isValidTraceparent(header: unknown): boolean {
  return parseTraceparent(header) !== undefined;
}

/** Formats a version-00 header; throws on an invalid id (a bug in the caller, not bad input). */
export function formatTraceparent(parts: { traceId: string; parentId: string; flags?: number }): string {
  const flags = parts.flags ?? SAMPLED_FLAG;
  if (!isValidTraceId(parts.traceId)) throw new RangeError(`invalid trace id: ${parts.traceId}`);
  if (!isValidSpanId(parts.parentId)) throw new RangeError(`invalid span id: ${parts.parentId}`);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new RangeError(`invalid trace flags: ${flags}`);
  return `00-${parts.traceId}-${parts.parentId}-${flags.toString(16).padStart(2, '0')}`;
}

export function isSampled(parent: Traceparent): boolean {
  return (parent.flags & SAMPLED_FLAG) === SAMPLED_FLAG;
}
