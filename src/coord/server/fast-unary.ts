// A lean path for the hot unary calls (KV Range, Put, DeleteRange, Txn), served on grpc-js's own
// HTTP/2 server but without grpc-js's per-call machinery.
//
// A profile of a one-member put or linearizable get showed a fifth to a quarter of the server's
// CPU in grpc-js's call layers (intercepting call, metadata, stream decoder, handler plumbing)
// and in Node's HTTP/2 header handling, part of it for headers no client of ours reads: the
// response's `date`, `grpc-accept-encoding` and `grpc-encoding`, and `grpc-message: OK` in the
// trailers (etcd's Go server sends none of these either). Each of them also costs the client
// (which shares the machine) a header to parse and a metadata entry.
//
// So the gRPC server's HTTP/2 server gets a `stream` listener in front of grpc-js's: a call to
// one of these methods with a plain request (gRPC content type, no compression) is answered
// here with the same service implementation, deserializer and serializer grpc-js would use;
// every other stream goes to grpc-js unchanged. What grpc-js does per call is kept where a
// client can see it: `grpc-timeout` (DEADLINE_EXCEEDED "Deadline exceeded"; an unparsable one is
// INTERNAL), the receive limit (RESOURCE_EXHAUSTED as soon as the message's length is read),
// exactly one request message (UNIMPLEMENTED otherwise), errors as trailers-only responses with
// the message percent-encoded, and nothing written after the client cancelled. Sessions
// (keep-alive, GOAWAY, graceful and forced shutdown) stay grpc-js's: these streams belong to
// its sessions like any other.
//
// The hook needs grpc-js's HTTP/2 server, which it keeps in a private map; if that is not where
// it is expected (another grpc-js version), attachFastUnary returns false and every call goes
// through grpc-js as before (a test checks that the fast path is in use).
import type * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { DEADLINE_UNITS_MS, statusOf } from '../grpc/index.js';

/** What one fast method needs: grpc-js's (de)serializers and the service's unary handler. */
export interface FastMethod {
  path: string;
  deserialize: (buf: Buffer) => unknown;
  serialize: (value: unknown) => Buffer;
  /** The service implementation; it must read nothing from the call but `request`. */
  handler: grpc.handleUnaryCall<unknown, unknown>;
}

export interface FastUnaryOptions {
  /** grpc-js's receive limit (grpc.max_receive_message_length). */
  maxReceiveBytes: number;
}

type StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

/** As grpc-js parses grpc-timeout (server-interceptors.ts). */
const DEADLINE_REGEX = /(\d{1,8})\s*([HMSmun])/;

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto' };
// `sendDate: false` (honoured by Node's respond(), absent from its types): no `date` header.
type ResponseOptions = http2.ServerStreamResponseOptions & { sendDate: boolean };
const RESPONSE_OPTIONS: ResponseOptions = { waitForTrailers: true, sendDate: false };
const ERROR_OPTIONS: ResponseOptions = { endStream: true, sendDate: false };
const OK_TRAILERS = { 'grpc-status': '0' };

/**
 * Puts the fast path in front of the HTTP/2 server(s) grpc-js made for `server` so far (call it
 * after createConnectionInjector). Returns whether it could.
 */
export function attachFastUnary(server: grpc.Server, methods: FastMethod[], options: FastUnaryOptions): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return false;
  const byPath = new Map(methods.map((m) => [m.path, m]));
  for (const h2 of servers.keys() as IterableIterator<http2.Http2Server>) {
    if (typeof h2?.listeners !== 'function' || h2.listenerCount('stream') === 0) return false;
  }
  for (const h2 of servers.keys() as IterableIterator<http2.Http2Server>) {
    const grpcListeners = h2.listeners('stream') as StreamListener[];
    h2.removeAllListeners('stream');
    h2.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
      const method = byPath.get(headers[':path'] as string);
      if (method !== undefined && isPlain(headers)) return serveUnary(stream, headers, method, options.maxReceiveBytes);
      for (const l of grpcListeners) l.call(h2, stream, headers, flags, rawHeaders);
    });
  }
  return true;
}

/** A request grpc-js would take as is: a gRPC content type and no compression. */
function isPlain(headers: http2.IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  if (type !== 'application/grpc' && type !== 'application/grpc+proto') return false;
  const encoding = headers['grpc-encoding'];
  return encoding === undefined || encoding === 'identity';
}

const ignore = (): void => {};

function serveUnary(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, method: FastMethod, maxReceive: number): void {
  /** Set once an answer was sent or the stream went away: nothing more is written. */
  let finished = false;
  let timer: NodeJS.Timeout | null = null;
  const chunks: Buffer[] = [];
  let received = 0;

  const gone = (): boolean => finished || stream.destroyed || stream.closed;
  const fail = (code: grpc.status, details: string): void => {
    if (gone()) return;
    finished = true;
    if (timer !== null) clearTimeout(timer);
    stream.respond(
      { ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': encodeURI(details) },
      ERROR_OPTIONS,
    );
    // Whatever the client still sends is read and dropped.
    stream.resume();
  };
  const succeed = (body: Buffer): void => {
    if (gone()) return;
    finished = true;
    if (timer !== null) clearTimeout(timer);
    const frame = Buffer.allocUnsafe(body.length + 5);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    stream.respond(RESPONSE_HEADERS, RESPONSE_OPTIONS);
    stream.once('wantTrailers', () => stream.sendTrailers(OK_TRAILERS));
    stream.end(frame);
  };

  stream.on('error', ignore);
  stream.once('close', () => {
    finished = true;
    if (timer !== null) clearTimeout(timer);
  });

  const timeout = headers['grpc-timeout'];
  if (timeout !== undefined) {
    const match = DEADLINE_REGEX.exec(String(timeout));
    if (match === null) {
      fail(grpc.status.INTERNAL, `Invalid grpc-timeout value "${String(timeout)}"`);
      return;
    }
    const ms = (Number(match[1]) * DEADLINE_UNITS_MS[match[2]!]!) | 0;
    timer = setTimeout(() => fail(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'), ms);
  }

  stream.on('data', (chunk: Buffer) => {
    if (finished) return;
    // The first message's length is known from its 5-byte prefix: refuse an oversized one at
    // once, as grpc-js's stream decoder does.
    if (received < 5 && received + chunk.length >= 5) {
      const head = received === 0 ? chunk : Buffer.concat([...chunks, chunk]);
      const size = head.readUInt32BE(1);
      if (size > maxReceive) return fail(grpc.status.RESOURCE_EXHAUSTED, `Received message larger than max (${size} vs ${maxReceive})`);
    }
    chunks.push(chunk);
    received += chunk.length;
  });
  stream.once('end', () => {
    if (finished) return;
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
    const messages = countMessages(body, maxReceive);
    if (typeof messages === 'string') return fail(grpc.status.RESOURCE_EXHAUSTED, messages);
    if (messages === 0) return fail(grpc.status.UNIMPLEMENTED, `Received no request message for server streaming method ${method.path}`);
    if (messages > 1) return fail(grpc.status.UNIMPLEMENTED, `Received a second request message for server streaming method ${method.path}`);
    const size = body.readUInt32BE(1);
    let request: unknown;
    try {
      request = method.deserialize(body.subarray(5, 5 + size));
    } catch {
      return fail(grpc.status.INTERNAL, 'Error deserializing request');
    }
    const call = { request } as grpc.ServerUnaryCall<unknown, unknown>;
    try {
      method.handler(call, (err, value) => {
        if (err) {
          const { code, details } = statusOf(err);
          return fail(code, details);
        }
        let out: Buffer;
        try {
          out = method.serialize(value);
        } catch {
          return fail(grpc.status.INTERNAL, 'Error serializing response');
        }
        succeed(out);
      });
    } catch {
      fail(grpc.status.UNKNOWN, 'Unknown error');
    }
  });
}

/**
 * The number of complete gRPC messages in `body` (a trailing partial one is not counted, as
 * grpc-js never delivers it), or the error for one over the limit.
 */
function countMessages(body: Buffer, maxReceive: number): number | string {
  let count = 0;
  let at = 0;
  while (at + 5 <= body.length) {
    const size = body.readUInt32BE(at + 1);
    if (size > maxReceive) return `Received message larger than max (${size} vs ${maxReceive})`;
    if (at + 5 + size > body.length) break;
    count++;
    at += 5 + size;
  }
  return count;
}
