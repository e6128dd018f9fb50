import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ShoalError } from '../../src/errors/index.js';
import { packError, packRequest, unpackError, unpackMessage } from '../../src/transport/tcp/codec.js';
import { FrameDecoder, FrameError, FrameType, HEADER_BYTES, encodeFrame } from '../../src/transport/tcp/frame.js';

interface Seen {
  kind: 'frame' | 'oversized';
  type: number;
  id: number;
  body?: string;
  bytes?: number;
}

function decoderInto(maxBody: number, seen: Seen[]): FrameDecoder {
  return new FrameDecoder(maxBody, {
    // The body is a view into received bytes: copy it out, as the contract says.
    frame: (type, id, body) => seen.push({ kind: 'frame', type, id, body: Buffer.from(body).toString('hex') }),
    oversized: (type, id, bytes) => seen.push({ kind: 'oversized', type, id, bytes }),
  });
}

/** Cuts `bytes` at the given (sorted, deduplicated) offsets. */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    pieces.push(bytes.subarray(at, p));
    at = p;
  }
  pieces.push(bytes.subarray(at));
  return pieces;
}

const frameArb = fc.record({
  type: fc.integer({ min: 1, max: 8 }),
  id: fc.integer({ min: 0, max: 0xffff_ffff }),
  body: fc.uint8Array({ maxLength: 300 }),
});

describe('frame codec', () => {
  it('decodes every frame, in order, however the stream is cut; oversized bodies are skipped and reported', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.integer({ min: 0, max: 400 }),
        (frames, offsets, maxBody) => {
          const stream = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.id, f.body)));
          const seen: Seen[] = [];
          const decoder = decoderInto(maxBody, seen);
          for (const piece of cut(stream, offsets)) decoder.push(Buffer.from(piece)); // fresh buffers, as a socket gives
          const expected: Seen[] = frames.map((f) =>
            f.body.length > maxBody
              ? { kind: 'oversized', type: f.type, id: f.id, bytes: f.body.length }
              : { kind: 'frame', type: f.type, id: f.id, body: Buffer.from(f.body).toString('hex') },
          );
          expect(seen).toEqual(expected);
          expect(decoder.buffered).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds a partial frame until the rest arrives', () => {
    const seen: Seen[] = [];
    const decoder = decoderInto(1024, seen);
    const frame = encodeFrame(FrameType.REQUEST, 7, Buffer.from('abcdef'));
    decoder.push(frame.subarray(0, HEADER_BYTES + 2));
    expect(seen).toEqual([]);
    expect(decoder.buffered).toBe(HEADER_BYTES + 2);
    decoder.push(frame.subarray(HEADER_BYTES + 2));
    expect(seen).toEqual([{ kind: 'frame', type: FrameType.REQUEST, id: 7, body: Buffer.from('abcdef').toString('hex') }]);
  });

  it('refuses a length shorter than the header', () => {
    const decoder = decoderInto(1024, []);
    const bad = Buffer.alloc(HEADER_BYTES);
    bad.writeUInt32BE(2, 0);
    expect(() => decoder.push(bad)).toThrow(FrameError);
  });

  it('round-trips request bodies and errors through msgpack', () => {
    const json = fc.jsonValue();
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), json, fc.option(fc.record({ deadlineMs: fc.nat(), traceparent: fc.string() }), { nil: null }), (action, params, meta) => {
        // A `__proto__` key is renamed by msgpackr (its prototype-pollution guard), shown below.
        fc.pre(!JSON.stringify(params).includes('"__proto__"'));
        const decoded = unpackMessage(packRequest(action, params, meta));
        expect(decoded.name).toBe(action);
        // Compared as JSON: -0 arrives as 0 here, exactly as it does on the HTTP/JSON path.
        expect(JSON.stringify(decoded.params)).toBe(JSON.stringify(params));
        expect(decoded.meta).toEqual(meta ?? {});
      }),
      { numRuns: 200 },
    );
    const hostile = unpackMessage(packRequest('a', JSON.parse('{"__proto__":{"polluted":true}}'), null));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(hostile.params)).toBe(Object.prototype);
    const error = new ShoalError({ code: 'OUT_OF_STOCK', message: 'no', retryable: false, instance: 'goods-1', details: { sku: 'a', left: 0 } });
    const back = unpackError(packError(error));
    expect(back).toBeInstanceOf(ShoalError);
    expect(back.toJSON()).toEqual(error.toJSON());
  });
});
