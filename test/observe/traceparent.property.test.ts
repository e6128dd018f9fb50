import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseTraceParent } from '@opentelemetry/core';
import {
  formatTraceparent,
  isSampled,
  isValidSpanId,
  isValidTraceId,
  isValidTraceparent,
  parseTraceparent,
} from '../../src/observe/index.js';

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const traceId = hex(32).filter((s) => s !== '0'.repeat(32));
const spanId = hex(16).filter((s) => s !== '0'.repeat(16));
const flags = fc.integer({ min: 0, max: 255 });
const validHeader = fc.record({ traceId, parentId: spanId, flags }).map((p) => ({ ...p, header: formatTraceparent(p) }));

/** Fragments a mutated header is built from: valid pieces, near misses and junk. */
const piece = fc.oneof(
  fc.constantFrom('00', '01', 'fe', 'ff', '0', '000', 'AB', '-', '--', 'zz', ' ', '0'.repeat(16), '0'.repeat(32)),
  hex(2),
  hex(16),
  hex(32),
  fc.string({ maxLength: 4 }),
);

/** Valid headers of any version, spliced with a fragment, or fragments alone: both parsers' edges. */
const candidate = fc.oneof(
  validHeader.map(({ header }) => header),
  fc.tuple(hex(2), validHeader, fc.option(piece, { nil: '' })).map(([v, { header }, tail]) => v + header.slice(2) + tail),
  fc.tuple(validHeader, fc.nat(56), fc.nat(3), piece).map(([{ header }, at, drop, p]) => header.slice(0, at) + p + header.slice(at + drop)),
  fc.array(piece, { minLength: 1, maxLength: 9 }).map((parts) => parts.join('')),
);

describe('traceparent', () => {
  it('formats and parses back to the same fields', () => {
    fc.assert(
      fc.property(validHeader, ({ traceId: t, parentId: p, flags: f, header }) => {
        expect(header).toHaveLength(55);
        expect(parseTraceparent(header)).toEqual({ version: '00', traceId: t, parentId: p, flags: f });
        expect(isSampled(parseTraceparent(header)!)).toBe((f & 1) === 1);
      }),
    );
  });

  it('agrees with OpenTelemetry’s parser: whatever we accept, it accepts with the same fields', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(candidate, (header) => {
        const ours = parseTraceparent(header);
        if (ours === undefined) rejected++;
        else accepted++;
        const otel = parseTraceParent(header);
        if (ours !== undefined) {
          expect(otel).toEqual({ traceId: ours.traceId, spanId: ours.parentId, traceFlags: ours.flags });
        }
        // And the reverse, except for the surrounding whitespace OTel tolerates and we do not.
        if (otel !== null && header.trim() === header) expect(ours).toBeDefined();
      }),
      { numRuns: 2000 },
    );
    // The generator must exercise both sides, or the agreement above says nothing. Each side is
    // expected at roughly a quarter or more of 2,000 runs; 100 leaves a wide margin for any seed.
    expect(accepted).toBeGreaterThan(100);
    expect(rejected).toBeGreaterThan(100);
  });

  it('rejects any single-character corruption of a valid version-00 header', () => {
    fc.assert(
      fc.property(validHeader, fc.nat(54), fc.constantFrom('g', 'A', 'F', '-', ' ', 'x', '\n'), ({ header }, at, ch) => {
        const broken = header.slice(0, at) + ch + header.slice(at + 1);
        fc.pre(broken !== header);
        // A changed dash position or a non-hex digit breaks it; replacing a digit by '-' too.
        expect(parseTraceparent(broken)).toBeUndefined();
      }),
    );
  });

  it('rejects truncated or extended version-00 headers', () => {
    fc.assert(
      fc.property(validHeader, fc.integer({ min: 0, max: 54 }), fc.string({ minLength: 1, maxLength: 8 }), ({ header }, cut, tail) => {
        expect(isValidTraceparent(header.slice(0, cut))).toBe(false);
        expect(isValidTraceparent(header + tail)).toBe(false);
      }),
    );
  });

  it('edge cases from the spec', () => {
    const t = '4bf92f3577b34da6a3ce929d0e0e4736';
    const s = '00f067aa0ba902b7';
    expect(parseTraceparent(`00-${t}-${s}-01`)).toEqual({ version: '00', traceId: t, parentId: s, flags: 1 });
    expect(parseTraceparent(`00-${'0'.repeat(32)}-${s}-01`)).toBeUndefined(); // all-zero trace id
    expect(parseTraceparent(`00-${t}-${'0'.repeat(16)}-01`)).toBeUndefined(); // all-zero parent id
    expect(parseTraceparent(`ff-${t}-${s}-01`)).toBeUndefined(); // forbidden version
    expect(parseTraceparent(`00-${t.toUpperCase()}-${s}-01`)).toBeUndefined(); // uppercase hex
    expect(parseTraceparent(`00-${t}-${s}-01-extra`)).toBeUndefined(); // version 00 has exactly 4 fields
    expect(parseTraceparent(`00_${t}-${s}-01`)).toBeUndefined();
    expect(parseTraceparent(` 00-${t}-${s}-01`)).toBeUndefined();
    // A future version is parsed by its first four fields so the trace continues.
    expect(parseTraceparent(`cc-${t}-${s}-01-what-the-future-holds`)).toEqual({ version: 'cc', traceId: t, parentId: s, flags: 1 });
    expect(parseTraceparent(`cc-${t}-${s}-01`)).toEqual({ version: 'cc', traceId: t, parentId: s, flags: 1 });
    expect(parseTraceparent(`cc-${t}-${s}-01x`)).toBeUndefined();
    for (const junk of [undefined, null, 42, {}, '', '00', `00-${t}`]) expect(parseTraceparent(junk)).toBeUndefined();
  });

  it('formatTraceparent refuses invalid ids (a caller bug, not input)', () => {
    expect(() => formatTraceparent({ traceId: '0'.repeat(32), parentId: '00f067aa0ba902b7' })).toThrow(RangeError);
    expect(() => formatTraceparent({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: 'xyz' })).toThrow(RangeError);
    expect(() => formatTraceparent({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7', flags: 256 })).toThrow(RangeError);
    expect(formatTraceparent({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', parentId: '00f067aa0ba902b7' })).toBe(
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    );
    expect(isValidTraceId('4bf92f3577b34da6a3ce929d0e0e4736')).toBe(true);
    expect(isValidSpanId('00f067aa0ba902b7')).toBe(true);
    expect(isValidSpanId('00f067aa0ba902b')).toBe(false);
  });
});
