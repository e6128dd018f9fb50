// Binary framing for the TCP transport. A frame is
//
//   u32 BE length (of everything after this field) | u8 type | u32 BE id | body (msgpack)
//
// The id sits in the fixed header so a peer can route (or refuse) a frame without decoding its
// body — in particular an oversized one, which is skipped unread while its caller still gets an
// answer. A client opens every connection with the 4-byte PREFACE so that a stray HTTP client
// or port scanner is refused at once instead of being read as a 1 GiB length.

export const PREFACE = Buffer.from('SHL1', 'latin1');
export const HEADER_BYTES = 9;
/** Bytes of the header counted inside the length field (type + id). */
const LENGTH_COVERED = 5;
export const MAX_ID = 0xffff_ffff;

export const FrameType = {
  REQUEST: 1,
  RESPONSE_OK: 2,
  RESPONSE_ERROR: 3,
  EVENT: 4,
  PING: 5,
  PONG: 6,
  /** Server → client, first frame on a connection: who is serving, and the limits it enforces. */
  HELLO: 7,
  /** Server → client: no new requests on this connection (draining); in-flight ones will be answered. */
  GOAWAY: 8,
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

export function frameHeader(type: number, id: number, bodyBytes: number): Buffer {
  if (!(id >= 0 && id <= MAX_ID && Number.isInteger(id))) throw new FrameError(`frame id out of range: ${id}`);
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header.writeUInt32BE(bodyBytes + LENGTH_COVERED, 0);
  header[4] = type;
  header.writeUInt32BE(id, 5);
  return header;
}

/** A whole frame in one buffer (tests, and frames sent once per connection). */
export function encodeFrame(type: number, id: number, body: Uint8Array = EMPTY): Buffer {
  return Buffer.concat([frameHeader(type, id, body.length), body]);
}
const EMPTY = Buffer.alloc(0);

export interface FrameSink {
  /** `body` is a view into received bytes, valid only during the call. */
  frame(type: number, id: number, body: Buffer): void;
  /** A frame whose body exceeds the limit: its body is being skipped, never buffered. */
  oversized(type: number, id: number, bodyBytes: number): void;
}

/**
 * Turns a byte stream cut at arbitrary points into frames. Complete frames inside one chunk are
 * handed out as views (no copy); a frame spread over chunks is copied once, when it is complete,
 * so a large frame arriving in many small chunks costs one copy, not one per chunk.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private queued = 0;
  private skipping = 0;

  constructor(
    private readonly maxBodyBytes: number,
    private readonly sink: FrameSink,
  ) {
    if (!(maxBodyBytes >= 0)) throw new RangeError(`maxBodyBytes must be >= 0, got ${maxBodyBytes}`);
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.queued;
  }

  /** Throws FrameError on bytes that cannot be this protocol; the stream is unusable after that. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    for (;;) {
      if (this.skipping > 0 && !this.skip()) return;
      if (this.queued < HEADER_BYTES) return;
      let head = this.chunks[0]!;
      if (head.length < HEADER_BYTES) head = this.coalesce();
      const length = head.readUInt32BE(0);
      if (length < LENGTH_COVERED) throw new FrameError(`frame length ${length} is shorter than its header`);
      const bodyBytes = length - LENGTH_COVERED;
      const type = head[4]!;
      const id = head.readUInt32BE(5);
      if (bodyBytes > this.maxBodyBytes) {
        this.consume(head, HEADER_BYTES);
        this.skipping = bodyBytes;
        this.sink.oversized(type, id, bodyBytes);
        continue;
      }
      const total = HEADER_BYTES + bodyBytes;
      if (this.queued < total) return;
      if (head.length < total) head = this.coalesce();
      const body = head.subarray(HEADER_BYTES, total);
      this.consume(head, total);
      this.sink.frame(type, id, body);
    }
  }

  /** Drops skipped bytes; true once the skipped frame is fully behind us. */
  private skip(): boolean {
    while (this.skipping > 0 && this.chunks.length > 0) {
      const head = this.chunks[0]!;
      const n = Math.min(this.skipping, head.length);
      this.consume(head, n);
      this.skipping -= n;
    }
    return this.skipping === 0;
  }

  private consume(head: Buffer, n: number): void {
    if (n === head.length) this.chunks.shift();
    else this.chunks[0] = head.subarray(n);
    this.queued -= n;
  }

  private coalesce(): Buffer {
    const merged = Buffer.concat(this.chunks, this.queued);
    this.chunks = [merged];
    return merged;
  }
}
