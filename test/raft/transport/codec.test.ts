import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MESSAGE_TYPE_CODES, type Message, type MessageType } from '../../../src/raft/index.js';
import {
  ByteWriter,
  CodecError,
  decodeMessage,
  decodeSnapshot,
  encodeMessage,
  encodeSnapshot,
  FrameDecoder,
  writeFrame,
  writeMessage,
} from '../../../src/raft/transport/index.js';

const id = fc.maxSafeNat();
const bytes = fc.uint8Array({ maxLength: 48 });
const entry = fc.record({
  term: id,
  index: id,
  type: fc.constantFrom('normal' as const, 'confChange' as const),
  data: bytes,
});
const ids = fc.array(id, { maxLength: 4 });
const snapshot = fc.record({
  meta: fc.record({
    index: id,
    term: id,
    conf: fc.record({ voters: ids, learners: ids, votersOutgoing: ids, learnersNext: ids, autoLeave: fc.boolean() }),
  }),
  data: bytes,
});
export const messageArb: fc.Arbitrary<Message> = fc.record(
  {
    type: fc.constantFrom(...(Object.keys(MESSAGE_TYPE_CODES) as MessageType[])),
    from: id,
    to: id,
    term: id,
    logTerm: id,
    index: id,
    entries: fc.array(entry, { maxLength: 4 }),
    commit: id,
    reject: fc.boolean(),
    rejectHint: id,
    snapshot,
    context: bytes,
    commitOnly: fc.constant(true),
  },
  { requiredKeys: ['type', 'from', 'to', 'term', 'logTerm', 'index', 'entries', 'commit', 'reject', 'rejectHint'] },
);

describe('raft message codec', () => {
  it('decodes what it encodes, for every message shape', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips snapshots', () => {
    fc.assert(
      fc.property(snapshot, (s) => {
        expect(decodeSnapshot(encodeSnapshot(s))).toEqual(s);
      }),
    );
  });

  it('rejects every truncation of an encoded message', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const buf = encodeMessage(m);
        for (let cut = 0; cut < buf.length; cut++) expect(() => decodeMessage(buf.subarray(0, cut))).toThrow(CodecError);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps a 100-byte append entry compact', () => {
    const m: Message = {
      type: 'app', from: 1, to: 2, term: 7, logTerm: 7, index: 123456, commit: 123450, reject: false, rejectHint: 0,
      entries: [{ term: 7, index: 123457, type: 'normal', data: new Uint8Array(100) }],
    };
    // 8 header varints + flags + count, then type, term, index, length, data.
    expect(encodeMessage(m).length).toBeLessThan(100 + 30);
  });
});

describe('frames', () => {
  it('reassembles frames from any split of the stream into chunks', () => {
    fc.assert(
      fc.property(fc.array(messageArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (msgs, cuts) => {
        const w = new ByteWriter();
        for (const m of msgs) writeFrame(w, (fw) => writeMessage(fw, m));
        const stream = Buffer.from(w.finish());
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const decoder = new FrameDecoder();
        const out: Message[] = [];
        let prev = 0;
        for (const p of [...points, stream.length]) {
          decoder.push(stream.subarray(prev, p), (f) => out.push(decodeMessage(f)));
          prev = p;
        }
        expect(out).toEqual(msgs);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a frame longer than the bound', () => {
    const decoder = new FrameDecoder(16);
    const head = Buffer.alloc(4);
    head.writeUInt32LE(17);
    expect(() => decoder.push(head, () => undefined)).toThrow(/exceeds/);
  });
});
