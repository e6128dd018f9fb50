// CallMeta ↔ HTTP headers. Known fields get their own headers (readable by proxies and tracing
// tools); the rest travels as one JSON header.
import { DEADLINE_HEADER, type CallMeta } from '../types.js';

export const INSTANCE_HEADER = 'shoal-instance';
const CALLER_HEADER = 'shoal-caller-id';
const META_HEADER = 'shoal-meta';

export function metaToHeaders(meta: CallMeta | undefined, headers: Record<string, string>): void {
  if (meta === undefined) return;
  let rest: Record<string, unknown> | undefined;
  for (const key of Object.keys(meta)) {
    const value = meta[key];
    if (value === undefined) continue;
    if (key === 'deadlineMs') headers[DEADLINE_HEADER] = String(Math.floor(value as number));
    else if (key === 'traceparent' || key === 'tracestate') headers[key] = String(value);
    else if (key === 'callerId') headers[CALLER_HEADER] = String(value);
    else (rest ??= {})[key] = value;
  }
  if (rest !== undefined) headers[META_HEADER] = JSON.stringify(rest);
}

/** Throws TypeError on a malformed header; the server answers 400. */
export function metaFromHeaders(headers: Record<string, string | string[] | undefined>): CallMeta {
  const one = (name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const meta: CallMeta = {};
  const extra = one(META_HEADER);
  if (extra !== undefined) {
    const parsed = JSON.parse(extra) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError(`${META_HEADER}: not a JSON object`);
    Object.assign(meta, parsed);
  }
  const deadline = one(DEADLINE_HEADER);
  if (deadline !== undefined) {
    if (!/^\d{1,9}$/.test(deadline.trim())) throw new TypeError(`${DEADLINE_HEADER}: expected whole milliseconds, got "${deadline}"`);
    meta.deadlineMs = Number(deadline);
  }
  const traceparent = one('traceparent');
  if (traceparent !== undefined) meta.traceparent = traceparent;
  const tracestate = one('tracestate');
  if (tracestate !== undefined) meta.tracestate = tracestate;
  const caller = one(CALLER_HEADER);
  if (caller !== undefined) meta.callerId = caller;
  return meta;
}
