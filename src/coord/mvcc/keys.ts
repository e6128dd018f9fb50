// Keys are held as latin1 strings: one char per byte, so JS string order is etcd's byte order,
// and strings are cheap B-tree keys and Map keys. The conversion is exact in both directions.

export type KeyString = string;

export function keyString(key: Buffer): KeyString {
  return key.toString('latin1');
}

export function keyBuffer(key: KeyString): Buffer {
  return Buffer.from(key, 'latin1');
}

/**
 * A key or key range as etcd reads `key` / `range_end`: empty end = just `key`; end "\0" = every
 * key >= `key`; otherwise the half-open range [key, end). `end === undefined` marks a single key
 * and `end === ''` an unbounded range.
 */
export interface KeySpan {
  readonly start: KeyString;
  readonly end: KeyString | undefined;
}

export function spanOf(key: Buffer, rangeEnd: Buffer | undefined): KeySpan {
  const start = keyString(key);
  if (rangeEnd === undefined || rangeEnd.length === 0) return { start, end: undefined };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: '' };
  return { start, end: keyString(rangeEnd) };
}

export function isSingle(span: KeySpan): boolean {
  return span.end === undefined;
}

export function spanContains(span: KeySpan, key: KeyString): boolean {
  if (span.end === undefined) return key === span.start;
  if (key < span.start) return false;
  return span.end === '' || key < span.end;
}

/** True when no key can be in the span (end <= start), which etcd answers with nothing. */
export function spanIsEmpty(span: KeySpan): boolean {
  return span.end !== undefined && span.end !== '' && span.end <= span.start;
}
