// One client connection of the lean gRPC server: HTTP/2 (h2c with prior knowledge, RFC 9113) on
// a TCP socket, server side only.
//
// Why our own: a profile of the coordinator under puts put a third to two fifths of the server's
// CPU in Node's HTTP/2 layer (an object, event emitter and stream pair per request, header
// objects built and checked both ways) and showed its cost as latency too: every request in a
// socket read is handled before any answer can leave. Here a request costs a header-block
// decode (mostly dynamic-table hits), a map entry and one buffer for the whole answer, and
// answers are written once per event-loop turn.
//
// What is implemented: the preface, SETTINGS (and their acknowledgement), PING, GOAWAY, RST_STREAM,
// WINDOW_UPDATE, HEADERS with CONTINUATION, DATA with padding, flow control both ways (the client's
// windows bound what is sent; a large window is announced for what the client sends, and given
// back as it is consumed), stream-id rules, and graceful and forced shutdown. PRIORITY is read
// and ignored (as RFC 9113 allows). Server push is never used.
import type * as net from 'node:net';
import {
  COMPRESSION_ERROR,
  CONTINUATION,
  DATA,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  FLAG_ACK,
  FLAG_END_HEADERS,
  FLAG_END_STREAM,
  FLAG_PADDED,
  FLAG_PRIORITY,
  FLOW_CONTROL_ERROR,
  FRAME_HEADER_BYTES,
  FRAME_SIZE_ERROR,
  GOAWAY,
  HEADERS,
  INTERNAL_ERROR,
  MAX_WINDOW,
  NO_ERROR,
  PING,
  PREFACE,
  PRIORITY,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  REFUSED_STREAM,
  RST_STREAM,
  SETTINGS,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  WINDOW_UPDATE,
  frame,
  goAwayFrame,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.js';
import { HpackDecoder, HpackError } from './hpack.js';

/** What a stream's owner (the gRPC call) is told. */
export interface StreamHandler {
  /** Payload bytes of a DATA frame (a view; copy what is kept past the call). */
  onData(chunk: Buffer): void;
  /** The client ended its side. */
  onEnd(): void;
  /** The client reset the stream, or the connection is gone. */
  onReset(): void;
}

/** The decoded request headers: latin1 name/value pairs, in order. */
export type HeaderList = string[];

export interface ConnectionOptions {
  /**
   * Opens a stream: returns its handler. Called with the stream already registered. `oversized`:
   * the header list is over the announced limit (the stream should be answered with an error).
   */
  onStream(stream: H2Stream, headers: HeaderList, endStream: boolean, oversized: boolean): StreamHandler;
  /** The connection is being closed for a protocol error (GOAWAY sent). */
  onProtocolError?(reason: string): void;
  /** The connection is gone (every stream was reset first). */
  onClose(conn: H2Connection): void;
  /** Largest header block accepted (SETTINGS_MAX_HEADER_LIST_SIZE, roughly). */
  maxHeaderBytes?: number;
}

/** Our receive windows: large, so the client never waits for us to give window back. */
const STREAM_WINDOW = 4 * 1024 * 1024;
const CONNECTION_WINDOW = 16 * 1024 * 1024;
const MAX_OPEN_STREAMS = 65_536;
/**
 * Bytes the socket may hold unsent before the client is taken to have stopped reading: answers
 * beyond the client's flow-control windows (headers, trailers) would otherwise pile up without
 * bound for a client that keeps asking and never reads.
 */
const MAX_UNSENT_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;

export class H2Stream {
  /** What the client still lets us send on this stream. */
  sendWindow: number;
  /** Payload bytes received and not yet given back with a WINDOW_UPDATE. */
  unacked = 0;
  remoteClosed = false;
  localClosed = false;
  handler: StreamHandler | null = null;
  /** DATA payloads (and, last, a trailer block) waiting for window. */
  readonly blocked: Array<{ data: Buffer; trailers: boolean }> = [];
  blockedBytes = 0;
  constructor(
    readonly conn: H2Connection,
    readonly id: number,
    sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }
}

const EMPTY = Buffer.alloc(0);

export class H2Connection {
  private readonly streams = new Map<number, H2Stream>();
  private readonly hpack = new HpackDecoder();
  private readonly maxHeaderBytes: number;
  private input: Buffer = EMPTY;
  private prefaceSeen = false;
  private lastStreamId = 0;
  /** A header block being collected across CONTINUATION frames. */
  private continuing: { stream: number; flags: number; parts: Buffer[]; bytes: number } | null = null;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private connSendWindow = DEFAULT_WINDOW;
  private connUnacked = 0;
  /** Streams with blocked DATA, in the order they blocked. */
  private readonly waiting = new Set<H2Stream>();
  private out: Buffer[] = [];
  /**
   * The DATA frame at the end of `out`, still open: consecutive writes on one stream in one turn
   * (a watch stream's events for its watchers) share a frame, which costs the client one frame
   * to handle instead of one per message.
   */
  private openData: { id: number; parts: Buffer[]; len: number } | null = null;
  private flushScheduled = false;
  /** GOAWAY sent: streams above lastStreamId are refused; the socket ends when none is open. */
  private goingAway = false;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    socket.on('end', () => this.teardown());
    this.send(
      settingsFrame([
        [SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW],
        [SETTINGS_MAX_HEADER_LIST_SIZE, this.maxHeaderBytes],
      ]),
    );
    this.send(windowUpdateFrame(0, CONNECTION_WINDOW - DEFAULT_WINDOW));
  }

  /** Queues bytes for the socket; they are written once per event-loop turn. */
  send(buf: Buffer): void {
    if (this.closed) return;
    this.sealData();
    this.out.push(buf);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Appends DATA payload for a stream, to the open DATA frame when it is that stream's and has room. */
  private queueData(id: number, chunk: Buffer): void {
    const open = this.openData;
    if (open !== null && open.id === id && open.len + chunk.length <= this.peerMaxFrame) {
      open.parts.push(chunk);
      open.len += chunk.length;
      return;
    }
    this.sealData();
    this.openData = { id, parts: [chunk], len: chunk.length };
    this.scheduleFlush();
  }

  private sealData(): void {
    const open = this.openData;
    if (open === null) return;
    this.openData = null;
    const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + open.len);
    let at = writeFrameHeader(buf, 0, open.len, DATA, 0, open.id);
    for (const part of open.parts) at += part.copy(buf, at);
    this.out.push(buf);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    this.sealData();
    if (this.closed || this.out.length === 0) return;
    const out = this.out;
    this.out = [];
    this.socket.write(out.length === 1 ? out[0]! : Buffer.concat(out));
    if (this.socket.writableLength > MAX_UNSENT_BYTES) {
      this.options.onProtocolError?.(`the client read nothing of ${this.socket.writableLength} bytes`);
      return this.destroy();
    }
    if (this.goingAway && this.streams.size === 0) this.endSocket();
  };

  /**
   * Sends a complete header block on a stream (HEADERS, with CONTINUATION if it is larger than
   * the client's frame size). `end`: the stream ends with it (trailers, or a trailers-only answer).
   */
  sendHeaders(stream: H2Stream, block: Buffer, end: boolean): void {
    if (stream.localClosed || this.closed) return;
    if (end && stream.blocked.length > 0) {
      // Trailers wait behind the DATA the client's window holds back.
      stream.blocked.push({ data: block, trailers: true });
      return;
    }
    this.writeHeaderBlock(stream.id, block, end);
    if (end) this.closeLocal(stream);
  }

  /**
   * A unary answer in one buffer: response headers, one DATA frame with the 5-byte-prefixed
   * message, and the trailers — when the windows allow it (else the general path).
   */
  sendUnary(stream: H2Stream, headerBlock: Buffer, message: Buffer, trailerBlock: Buffer): void {
    if (stream.localClosed || this.closed) return;
    const dataLen = 5 + message.length;
    if (
      dataLen > this.peerMaxFrame ||
      dataLen > stream.sendWindow ||
      dataLen > this.connSendWindow ||
      headerBlock.length > this.peerMaxFrame ||
      trailerBlock.length > this.peerMaxFrame
    ) {
      this.sendHeaders(stream, headerBlock, false);
      this.sendData(stream, grpcFrame(message));
      this.sendHeaders(stream, trailerBlock, true);
      return;
    }
    stream.sendWindow -= dataLen;
    this.connSendWindow -= dataLen;
    const buf = Buffer.allocUnsafe(3 * FRAME_HEADER_BYTES + headerBlock.length + dataLen + trailerBlock.length);
    let at = writeFrameHeader(buf, 0, headerBlock.length, HEADERS, FLAG_END_HEADERS, stream.id);
    at += headerBlock.copy(buf, at);
    at = writeFrameHeader(buf, at, dataLen, DATA, 0, stream.id);
    buf[at] = 0;
    buf.writeUInt32BE(message.length, at + 1);
    at += 5;
    at += message.copy(buf, at);
    at = writeFrameHeader(buf, at, trailerBlock.length, HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, stream.id);
    trailerBlock.copy(buf, at);
    this.send(buf);
    this.closeLocal(stream);
  }

  /** Sends DATA on a stream within the client's windows; the rest waits for WINDOW_UPDATE. */
  sendData(stream: H2Stream, data: Buffer): void {
    if (stream.localClosed || this.closed) return;
    if (stream.blocked.length > 0) {
      stream.blocked.push({ data, trailers: false });
      stream.blockedBytes += data.length;
      return;
    }
    const rest = this.writeData(stream, data);
    if (rest !== null) {
      stream.blocked.push({ data: rest, trailers: false });
      stream.blockedBytes += rest.length;
      this.waiting.add(stream);
    }
  }

  /** Ends a stream with RST_STREAM (for instance once it was answered while the client still sends). */
  resetStream(stream: H2Stream, code: number): void {
    if (!this.streams.has(stream.id)) return;
    this.send(rstStreamFrame(stream.id, code));
    this.forget(stream);
  }

  /** Graceful shutdown: no new streams; the socket ends once the open ones are done. */
  goAway(): void {
    if (this.goingAway || this.closed) return;
    this.goingAway = true;
    this.send(goAwayFrame(this.lastStreamId, NO_ERROR));
    if (this.streams.size === 0) this.send(EMPTY);
  }

  /** Forced shutdown: every open stream is reset and the socket destroyed. */
  destroy(): void {
    if (this.closed) return;
    this.socket.destroy();
    this.teardown();
  }

  // ---- receiving ----

  private onBytes(chunk: Buffer): void {
    if (this.closed) return;
    let buf = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    let at = 0;
    if (!this.prefaceSeen) {
      const n = Math.min(buf.length, PREFACE.length);
      if (buf.compare(PREFACE, 0, n, 0, n) !== 0) return this.fatal(PROTOCOL_ERROR, 'not an HTTP/2 connection preface');
      if (buf.length < PREFACE.length) {
        this.input = buf;
        return;
      }
      this.prefaceSeen = true;
      at = PREFACE.length;
    }
    try {
      while (buf.length - at >= FRAME_HEADER_BYTES) {
        const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
        if (length > DEFAULT_MAX_FRAME) return this.fatal(FRAME_SIZE_ERROR, `frame of ${length} bytes`);
        if (buf.length - at < FRAME_HEADER_BYTES + length) break;
        const type = buf[at + 3]!;
        const flags = buf[at + 4]!;
        const stream = buf.readUInt32BE(at + 5) & 0x7fffffff;
        const payload = buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
        at += FRAME_HEADER_BYTES + length;
        this.onFrame(type, flags, stream, payload);
        if (this.closed) return;
      }
    } catch (err) {
      if (err instanceof HpackError) return this.fatal(COMPRESSION_ERROR, err.message);
      if (err instanceof ProtocolError) return this.fatal(err.code, err.message);
      // A handler threw while taking a frame: this connection cannot be trusted to be in step
      // any more, but the process and every other connection go on.
      return this.fatal(INTERNAL_ERROR, `internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
    // Keep the partial frame (copied: the chunk's memory may be reused by the caller's pool).
    this.input = at === buf.length ? EMPTY : Buffer.from(buf.subarray(at));
    buf = EMPTY;
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.continuing !== null && type !== CONTINUATION) throw new ProtocolError(PROTOCOL_ERROR, 'expected CONTINUATION');
    switch (type) {
      case DATA:
        return this.onDataFrame(flags, id, payload);
      case HEADERS:
        return this.onHeadersFrame(flags, id, payload);
      case CONTINUATION:
        return this.onContinuation(flags, id, payload);
      case PRIORITY:
        if (id === 0) throw new ProtocolError(PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) throw new ProtocolError(FRAME_SIZE_ERROR, 'PRIORITY of the wrong size');
        return;
      case RST_STREAM: {
        if (id === 0) throw new ProtocolError(PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (payload.length !== 4) throw new ProtocolError(FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
        const stream = this.streams.get(id);
        if (stream !== undefined) {
          this.forget(stream);
          stream.handler?.onReset();
        }
        return;
      }
      case SETTINGS:
        return this.onSettings(flags, id, payload);
      case PUSH_PROMISE:
        throw new ProtocolError(PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case PING:
        if (id !== 0) throw new ProtocolError(PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new ProtocolError(FRAME_SIZE_ERROR, 'PING of the wrong size');
        if ((flags & FLAG_ACK) === 0) this.send(frame(PING, FLAG_ACK, 0, payload));
        return;
      case GOAWAY:
        // The client opens no more streams; the open ones finish as usual.
        return;
      case WINDOW_UPDATE:
        return this.onWindowUpdate(id, payload);
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1).
        return;
    }
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ProtocolError(PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & FLAG_ACK) {
      if (payload.length !== 0) throw new ProtocolError(FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ProtocolError(FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ProtocolError(FLOW_CONTROL_ERROR, 'initial window too large');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) s.sendWindow += delta;
      } else if (key === SETTINGS_MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 16_777_215) throw new ProtocolError(PROTOCOL_ERROR, 'bad max frame size');
        this.peerMaxFrame = value;
      }
      // HEADER_TABLE_SIZE: our blocks never use the client's table. ENABLE_PUSH: we never push.
    }
    this.send(frame(SETTINGS, FLAG_ACK, 0));
    this.drainBlocked();
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ProtocolError(FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) throw new ProtocolError(PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW) throw new ProtocolError(FLOW_CONTROL_ERROR, 'connection window overflow');
    } else {
      const stream = this.streams.get(id);
      if (stream === undefined) return; // A stream we closed: the update is moot.
      if (increment === 0) return this.resetStream(stream, PROTOCOL_ERROR);
      stream.sendWindow += increment;
    }
    this.drainBlocked();
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ProtocolError(PROTOCOL_ERROR, 'DATA on stream 0');
    // Flow control counts the whole payload, padding included; give it back in large steps.
    this.connUnacked += payload.length;
    if (this.connUnacked >= CONNECTION_WINDOW / 2) {
      this.send(windowUpdateFrame(0, this.connUnacked));
      this.connUnacked = 0;
    }
    const stream = this.streams.get(id);
    if (stream === undefined || stream.remoteClosed) {
      if (id > this.lastStreamId) throw new ProtocolError(PROTOCOL_ERROR, 'DATA on an idle stream');
      return; // A stream already answered or reset: its data is dropped.
    }
    const data = flags & FLAG_PADDED ? unpad(payload) : payload;
    const end = (flags & FLAG_END_STREAM) !== 0;
    if (!end) {
      stream.unacked += payload.length;
      if (stream.unacked >= STREAM_WINDOW / 2) {
        this.send(windowUpdateFrame(id, stream.unacked));
        stream.unacked = 0;
      }
    }
    if (data.length > 0) stream.handler?.onData(data);
    if (end) this.endRemote(stream);
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0 || (id & 1) === 0) throw new ProtocolError(PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    let block = payload;
    if (flags & FLAG_PADDED) block = unpad(block);
    if (flags & FLAG_PRIORITY) {
      if (block.length < 5) throw new ProtocolError(PROTOCOL_ERROR, 'HEADERS priority truncated');
      block = block.subarray(5);
    }
    if (flags & FLAG_END_HEADERS) return this.onHeaderBlock(id, flags, block);
    this.continuing = { stream: id, flags, parts: [Buffer.from(block)], bytes: block.length };
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const c = this.continuing;
    if (c === null || c.stream !== id) throw new ProtocolError(PROTOCOL_ERROR, 'unexpected CONTINUATION');
    c.parts.push(Buffer.from(payload));
    c.bytes += payload.length;
    if (c.bytes > this.maxHeaderBytes * 2) throw new ProtocolError(PROTOCOL_ERROR, 'header block too large');
    if ((flags & FLAG_END_HEADERS) === 0) return;
    this.continuing = null;
    this.onHeaderBlock(id, c.flags, Buffer.concat(c.parts, c.bytes));
  }

  private onHeaderBlock(id: number, flags: number, block: Buffer): void {
    // Every block is decoded, even a refused stream's: the dynamic table must stay in step.
    const headers: HeaderList = [];
    let bytes = 0;
    this.hpack.decode(block, (name, value) => {
      bytes += name.length + value.length + 32;
      // A small block can expand to a huge list (a table entry referenced again and again): past
      // a hard cap decoding stops, and with the table now out of step the connection must end.
      if (bytes > 4 * this.maxHeaderBytes) throw new HpackError(`header list over ${4 * this.maxHeaderBytes} bytes`);
      headers.push(name, value);
    });
    const end = (flags & FLAG_END_STREAM) !== 0;
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      // Trailers from the client: they must end the stream; gRPC has no use for their fields.
      if (!end || existing.remoteClosed) throw new ProtocolError(PROTOCOL_ERROR, 'HEADERS on an open stream without END_STREAM');
      return this.endRemote(existing);
    }
    if (id <= this.lastStreamId) throw new ProtocolError(PROTOCOL_ERROR, `stream ${id} reused`);
    this.lastStreamId = id;
    if (this.goingAway || this.streams.size >= MAX_OPEN_STREAMS) {
      this.send(rstStreamFrame(id, REFUSED_STREAM));
      return;
    }
    const stream = new H2Stream(this, id, this.peerInitialWindow);
    this.streams.set(id, stream);
    if (end) stream.remoteClosed = true;
    stream.handler = this.options.onStream(stream, headers, end, bytes > this.maxHeaderBytes);
  }

  private endRemote(stream: H2Stream): void {
    stream.remoteClosed = true;
    stream.handler?.onEnd();
    if (stream.localClosed) this.forget(stream);
  }

  // ---- sending ----

  private writeHeaderBlock(id: number, block: Buffer, end: boolean): void {
    const max = this.peerMaxFrame;
    const first = block.subarray(0, max);
    const endFlag = end ? FLAG_END_STREAM : 0;
    if (block.length <= max) return this.send(frame(HEADERS, FLAG_END_HEADERS | endFlag, id, block));
    this.send(frame(HEADERS, endFlag, id, first));
    for (let at = max; at < block.length; at += max) {
      const last = at + max >= block.length;
      this.send(frame(CONTINUATION, last ? FLAG_END_HEADERS : 0, id, block.subarray(at, at + max)));
    }
  }

  /** Writes as much of `data` as the windows allow; returns the rest (null when all went). */
  private writeData(stream: H2Stream, data: Buffer): Buffer | null {
    let at = 0;
    while (at < data.length) {
      const room = Math.min(stream.sendWindow, this.connSendWindow, this.peerMaxFrame, data.length - at);
      if (room <= 0) return data.subarray(at);
      this.queueData(stream.id, data.subarray(at, at + room));
      stream.sendWindow -= room;
      this.connSendWindow -= room;
      at += room;
    }
    return null;
  }

  private drainBlocked(): void {
    for (const stream of this.waiting) {
      if (this.connSendWindow <= 0) return;
      while (stream.blocked.length > 0) {
        const head = stream.blocked[0]!;
        if (head.trailers) {
          stream.blocked.shift();
          this.writeHeaderBlock(stream.id, head.data, true);
          this.closeLocal(stream);
          break;
        }
        const rest = this.writeData(stream, head.data);
        stream.blockedBytes -= head.data.length - (rest?.length ?? 0);
        if (rest !== null) {
          head.data = rest;
          break;
        }
        stream.blocked.shift();
      }
      if (stream.blocked.length === 0) this.waiting.delete(stream);
    }
  }

  private closeLocal(stream: H2Stream): void {
    stream.localClosed = true;
    if (stream.remoteClosed) return this.forget(stream);
    // Answered while the client still sends (an early error): tell it to stop.
    this.send(rstStreamFrame(stream.id, NO_ERROR));
    this.forget(stream);
  }

  private forget(stream: H2Stream): void {
    this.streams.delete(stream.id);
    this.waiting.delete(stream);
    stream.localClosed = true;
    stream.remoteClosed = true;
    if (this.goingAway && this.streams.size === 0) this.send(EMPTY);
  }

  private endSocket(): void {
    if (this.closed) return;
    this.socket.end();
    this.teardown();
  }

  private fatal(code: number, reason: string): void {
    if (this.closed) return;
    this.options.onProtocolError?.(reason);
    this.sealData();
    this.out.push(goAwayFrame(this.lastStreamId, code, reason));
    const out = Buffer.concat(this.out);
    this.out = [];
    this.socket.end(out);
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.out = [];
    this.openData = null;
    const open = [...this.streams.values()];
    this.streams.clear();
    this.waiting.clear();
    for (const s of open) s.handler?.onReset();
    this.options.onClose(this);
  }
}

export class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function unpad(payload: Buffer): Buffer {
  if (payload.length < 1) throw new ProtocolError(PROTOCOL_ERROR, 'padded frame without a pad length');
  const pad = payload[0]!;
  if (pad >= payload.length) throw new ProtocolError(PROTOCOL_ERROR, 'padding longer than the frame');
  return payload.subarray(1, payload.length - pad);
}

/** A gRPC length-prefixed message: flag 0 (not compressed), u32 length, bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(5 + message.length);
  buf[0] = 0;
  buf.writeUInt32BE(message.length, 1);
  message.copy(buf, 5);
  return buf;
}

