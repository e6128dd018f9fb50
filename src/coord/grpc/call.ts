// A gRPC call on one HTTP/2 stream, shaped like grpc-js's server call objects so the coordinator's
// service implementations run unchanged: `request`, `metadata`, `write`, `end`, events 'data',
// 'end', 'cancelled', 'finish', 'close', 'error', and `emit('error', status)` to fail the call.
//
// Semantics kept from grpc-js's server (what a client can observe): the 5-byte message framing;
// RESOURCE_EXHAUSTED as soon as a message's length prefix exceeds the receive limit; unary and
// server-streaming calls take exactly one message (UNIMPLEMENTED otherwise); a deserializer that
// throws is INTERNAL; a handler that throws is UNKNOWN; `grpc-timeout` ends the call with
// DEADLINE_EXCEEDED and fires 'cancelled'; errors are sent as trailers (trailers-only when nothing
// was sent yet) with the message percent-encoded. Compressed messages are refused (UNIMPLEMENTED),
// as etcd's server does: it registers no compressor.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { H2Stream, HeaderList, StreamHandler } from './connection.js';
import { encodeField, STATUS_200 } from './hpack.js';

export interface MethodEntry {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  deserialize: (buf: Buffer) => unknown;
  serialize: (value: unknown) => Buffer;
  handler: (...args: never[]) => void;
}

const RESPONSE_HEADERS = Buffer.concat([STATUS_200, encodeField('content-type', 'application/grpc')]);
const OK_TRAILERS = encodeField('grpc-status', '0');
/** Headers that are HTTP/2 or gRPC protocol, not call metadata (as grpc-js leaves them out). */
const NOT_METADATA = new Set(['content-type', 'te', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'accept-encoding', 'user-agent', 'host', 'connection']);
/** The end of a streaming call's messages, in its inbox. */
const END = Symbol('end');
const DEADLINE = /^(\d{1,8})\s*([HMSmun])$/;
/** grpc-timeout units in milliseconds. */
export const DEADLINE_UNITS_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

export interface StatusLike {
  code?: unknown;
  details?: unknown;
  message?: unknown;
}

/** grpc-message: percent-encoding of every byte outside printable ASCII, and of '%'. */
export function encodeGrpcMessage(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function statusBlock(code: number, details: string, withHeaders: boolean): Buffer {
  const fields = [encodeField('grpc-status', String(code))];
  // A long message is cut: a header block must fit the client's header list limit.
  if (details !== '') fields.push(encodeField('grpc-message', encodeGrpcMessage(details.slice(0, 4096))));
  return Buffer.concat(withHeaders ? [RESPONSE_HEADERS, ...fields] : fields);
}

/** The status of an error a handler reported, as grpc-js reads it. */
export function statusOf(err: StatusLike): { code: number; details: string } {
  const code = typeof err.code === 'number' && Number.isInteger(err.code) && err.code >= 0 && err.code <= 16 ? err.code : grpc.status.UNKNOWN;
  const details = code === err.code && typeof err.details === 'string' ? err.details : typeof err.message === 'string' ? err.message : 'Unknown Error';
  return { code, details };
}

export class LeanCall extends EventEmitter implements StreamHandler {
  request: unknown = undefined;
  cancelled = false;
  /** Nothing more is sent (status sent, reset or gone). */
  private finished = false;
  private headersSent = false;
  private pending: Buffer | null = null;
  private received = 0;
  private timer: NodeJS.Timeout | null = null;
  private meta: grpc.Metadata | null = null;
  private readonly unaryLike: boolean;
  /**
   * A streaming call's messages (and its end, as END) that arrived before the handler listened for
   * 'data': like grpc-js's Readable, the call holds them until someone does.
   */
  private inbox: unknown[] | null = null;

  constructor(
    private readonly stream: H2Stream,
    private readonly headers: HeaderList,
    private readonly method: MethodEntry,
    private readonly maxReceive: number,
  ) {
    super();
    this.unaryLike = !method.requestStream;
    if (!this.unaryLike) {
      this.on('newListener', (event: string | symbol) => {
        if (event === 'data' && this.inbox !== null) process.nextTick(() => this.deliverInbox());
      });
    }
  }

  // ---- what handlers see ----

  get metadata(): grpc.Metadata {
    if (this.meta === null) {
      const m = new grpc.Metadata();
      const h = this.headers;
      for (let i = 0; i < h.length; i += 2) {
        const name = h[i]!;
        if (name.startsWith(':') || NOT_METADATA.has(name)) continue;
        if (name.endsWith('-bin')) {
          for (const part of h[i + 1]!.split(',')) m.add(name, Buffer.from(part.trim(), 'base64'));
        } else m.add(name, h[i + 1]!);
      }
      this.meta = m;
    }
    return this.meta;
  }

  get writableEnded(): boolean {
    return this.finished;
  }

  get destroyed(): boolean {
    return this.finished;
  }

  /** Bytes of this call's messages held back by the client's flow-control windows. */
  get writableLength(): number {
    return this.stream.blockedBytes;
  }

  write(message: unknown): boolean {
    if (this.finished) return false;
    let body: Buffer;
    try {
      body = this.method.serialize(message);
    } catch {
      this.fail(grpc.status.INTERNAL, 'Error serializing response');
      return false;
    }
    this.sendHeadersOnce();
    const framed = Buffer.allocUnsafe(5 + body.length);
    framed[0] = 0;
    framed.writeUInt32BE(body.length, 1);
    body.copy(framed, 5);
    this.stream.conn.sendData(this.stream, framed);
    return true;
  }

  end(): this {
    if (this.finished) return this;
    if (!this.headersSent) this.finishWith(statusBlock(grpc.status.OK, '', true));
    else this.finishWith(OK_TRAILERS);
    return this;
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error') {
      const status = statusOf((args[0] ?? {}) as StatusLike);
      this.fail(status.code, status.details);
      return this.listenerCount('error') > 0 ? super.emit('error', ...args) : false;
    }
    return super.emit(event, ...args);
  }

  // ---- what the connection tells ----

  /** Called once the stream opened: starts streaming handlers, arms the deadline. */
  open(endStream: boolean): void {
    if (!this.checkHeaders()) return;
    if (!this.unaryLike) {
      this.invoke([this]);
    }
    if (endStream) this.onEnd();
  }

  onData(chunk: Buffer): void {
    if (this.finished) return;
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    let at = 0;
    while (buf.length - at >= 5) {
      const size = buf.readUInt32BE(at + 1);
      if (size > this.maxReceive) return this.fail(grpc.status.RESOURCE_EXHAUSTED, `Received message larger than max (${size} vs ${this.maxReceive})`);
      if (buf[at] !== 0) return this.fail(grpc.status.UNIMPLEMENTED, 'compressed messages are not supported');
      if (buf.length - at < 5 + size) break;
      // A copy: the socket's read buffer must not be kept alive by what the request holds.
      const body = Buffer.from(buf.subarray(at + 5, at + 5 + size));
      at += 5 + size;
      this.onMessage(body);
      if (this.finished) return;
    }
    this.pending = at === buf.length ? null : Buffer.from(buf.subarray(at));
  }

  onEnd(): void {
    if (this.finished) return;
    if (!this.unaryLike) {
      this.deliver(END);
      return;
    }
    if (this.received === 0) return this.fail(grpc.status.UNIMPLEMENTED, `Received no request message for server streaming method ${this.method.path}`);
    if (this.method.responseStream) this.invoke([this]);
    else this.invoke([this, this.callback]);
  }

  onReset(): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelled = true;
    this.clearTimer();
    super.emit('cancelled');
    super.emit('close');
  }

  // ---- inside ----

  private onMessage(body: Buffer): void {
    this.received++;
    if (this.unaryLike && this.received > 1) {
      return this.fail(grpc.status.UNIMPLEMENTED, `Received a second request message for server streaming method ${this.method.path}`);
    }
    let value: unknown;
    try {
      value = this.method.deserialize(body);
    } catch {
      return this.fail(grpc.status.INTERNAL, 'Error deserializing request');
    }
    if (this.unaryLike) this.request = value;
    else this.deliver(value);
  }

  /** Passes a streaming call's message (or END) on, or holds it until 'data' is listened for. */
  private deliver(item: unknown): void {
    if (this.inbox === null && this.listenerCount('data') > 0) {
      if (item === END) super.emit('end');
      else super.emit('data', item);
      return;
    }
    (this.inbox ??= []).push(item);
  }

  private deliverInbox(): void {
    const inbox = this.inbox;
    if (inbox === null || this.listenerCount('data') === 0) return;
    this.inbox = null;
    for (const item of inbox) {
      if (this.finished && item !== END) continue;
      if (item === END) super.emit('end');
      else super.emit('data', item);
    }
  }

  private readonly callback = (err: StatusLike | null | undefined, value?: unknown): void => {
    if (this.finished) return;
    if (err) {
      const status = statusOf(err);
      return this.fail(status.code, status.details);
    }
    let body: Buffer;
    try {
      body = this.method.serialize(value);
    } catch {
      return this.fail(grpc.status.INTERNAL, 'Error serializing response');
    }
    this.finished = true;
    this.clearTimer();
    this.stream.conn.sendUnary(this.stream, RESPONSE_HEADERS, body, OK_TRAILERS);
  };

  private invoke(args: unknown[]): void {
    try {
      (this.method.handler as (...a: unknown[]) => void)(...args);
    } catch {
      this.fail(grpc.status.UNKNOWN, 'Unknown error');
    }
  }

  private checkHeaders(): boolean {
    const h = this.headers;
    let type: string | undefined;
    let encoding: string | undefined;
    let timeout: string | undefined;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!;
      if (name === 'content-type') type = h[i + 1];
      else if (name === 'grpc-encoding') encoding = h[i + 1];
      else if (name === 'grpc-timeout') timeout = h[i + 1];
    }
    if (type === undefined || !type.startsWith('application/grpc')) {
      this.fail(grpc.status.INTERNAL, `Invalid content-type "${type ?? ''}"`);
      return false;
    }
    if (encoding !== undefined && encoding !== 'identity') {
      this.fail(grpc.status.UNIMPLEMENTED, `Compression "${encoding}" is not supported`);
      return false;
    }
    if (timeout !== undefined) {
      const m = DEADLINE.exec(timeout);
      if (m === null) {
        this.fail(grpc.status.INTERNAL, `Invalid grpc-timeout value "${timeout}"`);
        return false;
      }
      const ms = Math.ceil(Number(m[1]) * DEADLINE_UNITS_MS[m[2]!]!);
      this.timer = setTimeout(() => {
        this.timer = null;
        if (this.finished) return;
        this.fail(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded');
        this.cancelled = true;
        super.emit('cancelled');
      }, ms);
    }
    return true;
  }

  private sendHeadersOnce(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.conn.sendHeaders(this.stream, RESPONSE_HEADERS, false);
  }

  /** Ends the call with a non-OK status. */
  fail(code: number, details: string): void {
    if (this.finished) return;
    this.finishWith(statusBlock(code, details, !this.headersSent));
  }

  private finishWith(block: Buffer): void {
    this.finished = true;
    this.headersSent = true;
    this.clearTimer();
    this.stream.conn.sendHeaders(this.stream, block, true);
    super.emit('finish');
    super.emit('close');
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** A stream answered at once with a status (an unknown method, headers over the limit); its messages are dropped. */
export function refuse(stream: H2Stream, code: number, details: string): StreamHandler {
  stream.conn.sendHeaders(stream, statusBlock(code, details, true), true);
  return { onData() {}, onEnd() {}, onReset() {} };
}

