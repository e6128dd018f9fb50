// The client-to-server half of an HTTP/2 connection, frame by frame (RFC 9113 section 4): the
// 24-byte preface, then frames `[length u24][type u8][flags u8][stream u32][payload]`. Header
// blocks (HEADERS plus CONTINUATIONs) are decoded with HPACK (hpack.js) so a header can be
// changed; every other frame passes unchanged. A changed block is re-encoded as literals
// without indexing, so the server's HPACK table never holds an entry: the client's table
// (mirrored here by the decoder) and the server's stay independent, and both stay consistent.
import hpack, { type Decompressor, type HeaderField } from 'hpack.js';

export type { HeaderField };

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** SETTINGS_HEADER_TABLE_SIZE and SETTINGS_MAX_FRAME_SIZE as Node's HTTP/2 server leaves them. */
const HEADER_TABLE_SIZE = 4096;
const MAX_FRAME_SIZE = 16384;

/** An empty SETTINGS frame: "the defaults stand", which the client acknowledges. */
export const EMPTY_SETTINGS = Buffer.from([0, 0, 0, SETTINGS, 0, 0, 0, 0, 0]);

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
  /** The whole frame as received. */
  raw: Buffer;
}

/** Splits a byte stream into the preface and frames, across chunk boundaries. */
export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  /** Set when the stream does not start with the HTTP/2 preface: nothing here understands it. */
  notHttp2 = false;

  /** Feeds bytes; returns the preface (once) and every complete frame, in order. */
  push(chunk: Buffer): (Frame | 'preface')[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: (Frame | 'preface')[] = [];
    let pos = 0;
    if (!this.prefaceSeen) {
      const n = Math.min(this.buf.length, PREFACE.length);
      if (!this.buf.subarray(0, n).equals(PREFACE.subarray(0, n))) {
        this.notHttp2 = true;
        return out;
      }
      if (n < PREFACE.length) return out;
      this.prefaceSeen = true;
      pos = PREFACE.length;
      out.push('preface');
    }
    while (this.buf.length - pos >= FRAME_HEADER) {
      const length = this.buf.readUIntBE(pos, 3);
      const end = pos + FRAME_HEADER + length;
      if (end > this.buf.length) break;
      const raw = this.buf.subarray(pos, end);
      out.push({
        type: raw[3]!,
        flags: raw[4]!,
        stream: raw.readUInt32BE(5) & 0x7fffffff,
        payload: raw.subarray(FRAME_HEADER),
        raw,
      });
      pos = end;
    }
    this.buf = this.buf.subarray(pos);
    return out;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pending(): Buffer {
    return this.buf;
  }
}

export function isSettingsAck(f: Frame): boolean {
  return f.type === SETTINGS && (f.flags & ACK) !== 0;
}

/** A HEADERS frame and its CONTINUATIONs, collected until END_HEADERS. */
export interface HeaderBlock {
  stream: number;
  /** The HEADERS frame's flags (END_STREAM, PRIORITY matter). */
  flags: number;
  /** The 5 priority bytes, when PRIORITY is set. */
  priority: Buffer | null;
  fragments: Buffer[];
  raw: Buffer[];
}

/** Collects header blocks; other frames come back as they are. */
export class HeaderBlockCollector {
  private open: HeaderBlock | null = null;

  /**
   * One frame in: a complete header block, a frame to forward as is, or null while a block is
   * still open. A frame that breaks the HEADERS/CONTINUATION sequence is a protocol error the
   * server must see: the open block's frames are returned raw, followed by it.
   */
  take(f: Frame): { block: HeaderBlock } | { raw: Buffer[] } | null {
    if (this.open !== null) {
      const block = this.open;
      if (f.type !== CONTINUATION || f.stream !== block.stream) {
        this.open = null;
        return { raw: [...block.raw, f.raw] };
      }
      block.fragments.push(f.payload);
      block.raw.push(f.raw);
      if ((f.flags & END_HEADERS) === 0) return null;
      this.open = null;
      return { block };
    }
    if (f.type !== HEADERS) return { raw: [f.raw] };
    const fragment = headersFragment(f);
    if (fragment === null) return { raw: [f.raw] };
    const block: HeaderBlock = { stream: f.stream, flags: f.flags, priority: fragment.priority, fragments: [fragment.fragment], raw: [f.raw] };
    if ((f.flags & END_HEADERS) === 0) {
      this.open = block;
      return null;
    }
    return { block };
  }
}

/** The header block fragment of a HEADERS frame, without padding; null if malformed. */
function headersFragment(f: Frame): { fragment: Buffer; priority: Buffer | null } | null {
  let p = f.payload;
  let pad = 0;
  if (f.flags & PADDED) {
    if (p.length < 1) return null;
    pad = p[0]!;
    p = p.subarray(1);
  }
  let priority: Buffer | null = null;
  if (f.flags & PRIORITY) {
    if (p.length < 5) return null;
    priority = p.subarray(0, 5);
    p = p.subarray(5);
  }
  if (pad > p.length) return null;
  return { fragment: p.subarray(0, p.length - pad), priority };
}

/** HPACK decoding of one direction's header blocks, in order (they share the dynamic table). */
export class BlockDecoder {
  private readonly decompressor: Decompressor = hpack.decompressor.create({ table: { maxSize: HEADER_TABLE_SIZE } });

  /** The block's headers; throws on a malformed block (the table is then out of step). */
  decode(block: HeaderBlock): HeaderField[] {
    this.decompressor.write(block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments));
    this.decompressor.execute();
    const out: HeaderField[] = [];
    for (let h = this.decompressor.read(); h !== null; h = this.decompressor.read()) out.push(h);
    return out;
  }
}

/** The block's frames, re-encoded from `headers` without touching the receiver's HPACK table. */
export function encodeHeaderBlock(block: HeaderBlock, headers: HeaderField[]): Buffer {
  const compressor = hpack.compressor.create({ table: { maxSize: 0 } });
  compressor.write(headers.map((h) => ({ name: h.name, value: h.value, neverIndex: h.neverIndex === true, incremental: false })));
  const encoded = compressor.read() ?? Buffer.alloc(0);
  const first = block.priority === null ? encoded : Buffer.concat([block.priority, encoded]);
  const frames: Buffer[] = [];
  const baseFlags = block.flags & (END_STREAM | PRIORITY);
  let rest = first;
  let type = HEADERS;
  for (;;) {
    const part = rest.subarray(0, MAX_FRAME_SIZE);
    rest = rest.subarray(part.length);
    const last = rest.length === 0;
    const flags = (type === HEADERS ? baseFlags : 0) | (last ? END_HEADERS : 0);
    frames.push(frameHeader(part.length, type, flags, block.stream), part);
    if (last) break;
    type = CONTINUATION;
  }
  return Buffer.concat(frames);
}

function frameHeader(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
}

/**
 * The client-to-server byte stream with every header block passed through `edit` (which
 * changes headers in place) and re-encoded; the first SETTINGS acknowledgement is removed when
 * `dropFirstAck` (it acknowledges a SETTINGS frame the server did not send). A block that does
 * not decode, or a stream that is not HTTP/2, passes unchanged from there on: the server
 * rejects it as it would have.
 */
export class HeaderRewriter {
  private readonly splitter = new FrameSplitter();
  private readonly collector = new HeaderBlockCollector();
  private readonly decoder = new BlockDecoder();
  private passthrough = false;

  constructor(
    private readonly edit: (headers: HeaderField[]) => void,
    private dropFirstAck: boolean,
    private readonly onUndecodable: (err: unknown) => void = () => {},
  ) {}

  push(chunk: Buffer): Buffer {
    if (this.passthrough) return chunk;
    const out: Buffer[] = [];
    for (const item of this.splitter.push(chunk)) {
      if (item === 'preface') out.push(PREFACE);
      else this.frame(item, out);
    }
    if (this.splitter.notHttp2 || this.passthrough) {
      this.passthrough = true;
      out.push(this.splitter.pending);
    }
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  private frame(f: Frame, out: Buffer[]): void {
    if (this.passthrough) return void out.push(f.raw);
    if (this.dropFirstAck && isSettingsAck(f)) {
      this.dropFirstAck = false;
      return;
    }
    const got = this.collector.take(f);
    if (got === null) return;
    if ('raw' in got) return void out.push(...got.raw);
    let headers: HeaderField[];
    try {
      headers = this.decoder.decode(got.block);
    } catch (err) {
      this.onUndecodable(err);
      this.passthrough = true;
      return void out.push(...got.block.raw);
    }
    this.edit(headers);
    out.push(encodeHeaderBlock(got.block, headers));
  }
}
