// Conformance of the lean gRPC-over-HTTP/2 server (src/coord/grpc/) that replaces grpc-js's
// server for the coordinator: a real TCP listener on 127.0.0.1 hands every accepted socket to
// LeanGrpcServer.handleConnection, and the server is driven three ways:
//   - a real @grpc/grpc-js client (the client the coordinator's own tests and etcd3 use),
//   - Node's own HTTP/2 client (node:http2, h2c) sending gRPC by hand,
//   - a frame-level client written here (for what no library client lets us do: header blocks
//     split over CONTINUATION, a message prefix split over DATA frames, an empty END_STREAM
//     DATA frame as Go's client sends, a new stream after GOAWAY).
// Expected behaviour is grpc-js's server's, except where the lean server is specified to differ
// (compressed requests are refused with UNIMPLEMENTED).
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import hpack from 'hpack.js';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeanGrpcServer } from '../../src/coord/grpc/index.js';
import { frame } from '../support/h2-frame.js';

// ---------------------------------------------------------------------------------------------
// Small helpers

class Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (err: unknown) => void;
  settled = false;
  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = (v) => {
        this.settled = true;
        resolve(v);
      };
      this.reject = (e) => {
        this.settled = true;
        reject(e);
      };
    });
    // A deferred nobody awaited must not become an unhandled rejection.
    this.promise.catch(() => undefined);
  }
}

/**
 * Bounds the wait for something that must happen, so a server that never does it fails the test
 * with a message instead of hanging until vitest's 60 s timeout. Not a sleep: resolves as soon
 * as `p` does.
 */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets the event loop turn a few times (for "has NOT happened yet" checks only). */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A gRPC length-prefixed message. */
function lpm(payload: Buffer, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Splits a response body into its length-prefixed messages; throws on a truncated tail. */
function parseMessages(body: Buffer): { compressed: number; payload: Buffer }[] {
  const out: { compressed: number; payload: Buffer }[] = [];
  let pos = 0;
  while (pos < body.length) {
    if (body.length - pos < 5) throw new Error(`truncated message prefix at ${pos} of ${body.length}`);
    const len = body.readUInt32BE(pos + 1);
    if (body.length - pos - 5 < len) throw new Error(`truncated message at ${pos}: ${len} declared, ${body.length - pos - 5} present`);
    out.push({ compressed: body[pos]!, payload: body.subarray(pos + 5, pos + 5 + len) });
    pos += 5 + len;
  }
  return out;
}

const jsonBytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

// ---------------------------------------------------------------------------------------------
// The test service

const SERVICE_NAME = 'shoal.test.Lean';
const path = (method: string): string => `/${SERVICE_NAME}/${method}`;

interface Codec<T> {
  serialize: (value: T) => Buffer;
  deserialize: (bytes: Buffer) => T;
}
const json: Codec<unknown> = {
  serialize: (v) => Buffer.from(JSON.stringify(v)),
  // JSON.parse throws on bytes that are not JSON: the "deserializer throws" case.
  deserialize: (b) => JSON.parse(b.toString('utf8')) as unknown,
};
const bytes: Codec<Buffer> = { serialize: (b) => b, deserialize: (b) => b };

function method(
  name: string,
  kind: 'unary' | 'server' | 'bidi',
  req: Codec<unknown> | Codec<Buffer>,
  res: Codec<unknown> | Codec<Buffer>,
): grpc.MethodDefinition<unknown, unknown> {
  return {
    path: path(name),
    originalName: name,
    requestStream: kind === 'bidi',
    responseStream: kind !== 'unary',
    requestSerialize: req.serialize as (v: unknown) => Buffer,
    requestDeserialize: req.deserialize as (b: Buffer) => unknown,
    responseSerialize: res.serialize as (v: unknown) => Buffer,
    responseDeserialize: res.deserialize as (b: Buffer) => unknown,
  };
}

const SERVICE: grpc.ServiceDefinition = {
  Echo: method('Echo', 'unary', json, json),
  Bytes: method('Bytes', 'unary', bytes, bytes),
  Digest: method('Digest', 'unary', bytes, json),
  Fail: method('Fail', 'unary', json, json),
  Throw: method('Throw', 'unary', json, json),
  Slow: method('Slow', 'unary', json, json),
  Count: method('Count', 'unary', json, json),
  Hold: method('Hold', 'unary', json, json),
  Stream: method('Stream', 'server', json, bytes),
  StreamFail: method('StreamFail', 'server', json, bytes),
  StreamWait: method('StreamWait', 'server', json, bytes),
  Chat: method('Chat', 'bidi', json, json),
  LateChat: method('LateChat', 'bidi', json, json),
  Crash: method('Crash', 'bidi', json, json),
};

interface EchoRequest {
  value?: unknown;
  /** Metadata keys whose values the handler reports back (binary values as hex). */
  keys?: string[];
}

/** What the handlers saw and what they wait on; fresh for every test. */
interface State {
  slowEntered: Deferred<grpc.ServerUnaryCall<unknown, unknown>>;
  slowRelease: Deferred<unknown>;
  slowCancelled: Deferred;
  slowCalls: number;
  countCalls: number;
  holdTarget: number;
  holdWaiting: (() => void)[];
  holdAllArrived: Deferred;
  streamFinished: Deferred;
  /** Stream's call.writableLength right after its writes (before end()). */
  streamWritableLength: number | null;
  streamWaitCancelled: Deferred;
  chatMetadata: string[] | null;
  /** When set, Chat does not end the call on the client's half-close (it waits to be cancelled). */
  chatStayOpen: boolean;
  chatEnded: Deferred<{ writableEnded: boolean; writableLength: unknown }>;
  /** The Chat call, once its first message arrived. */
  chatFirstData: Deferred<grpc.ServerDuplexStream<unknown, unknown>>;
  chatCancelled: Deferred;
  /** Anything a server call method threw at a handler (e.g. a late callback after cancel). */
  handlerErrors: unknown[];
}

function freshState(): State {
  return {
    slowEntered: new Deferred(),
    slowRelease: new Deferred(),
    slowCancelled: new Deferred(),
    slowCalls: 0,
    countCalls: 0,
    holdTarget: Infinity,
    holdWaiting: [],
    holdAllArrived: new Deferred(),
    streamFinished: new Deferred(),
    streamWritableLength: null,
    streamWaitCancelled: new Deferred(),
    chatMetadata: null,
    chatStayOpen: false,
    chatEnded: new Deferred(),
    chatFirstData: new Deferred(),
    chatCancelled: new Deferred(),
    handlerErrors: [],
  };
}

let state: State = freshState();

function guarded(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    state.handlerErrors.push(err);
  }
}

function metadataValues(md: grpc.Metadata, key: string): string[] {
  return md.get(key).map((v) => (Buffer.isBuffer(v) ? `hex:${v.toString('hex')}` : v));
}

const IMPL: grpc.UntypedServiceImplementation = {
  Echo: ((call: grpc.ServerUnaryCall<EchoRequest, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    const metadata: Record<string, string[]> = {};
    for (const key of call.request.keys ?? []) metadata[key] = metadataValues(call.metadata, key);
    callback(null, { value: call.request.value, metadata });
  }) as grpc.handleUnaryCall<unknown, unknown>,

  Bytes: ((call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
    callback(null, call.request);
  }) as grpc.handleUnaryCall<unknown, unknown>,

  Digest: ((call: grpc.ServerUnaryCall<Buffer, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    callback(null, { length: call.request.length, sha256: createHash('sha256').update(call.request).digest('hex') });
  }) as grpc.handleUnaryCall<unknown, unknown>,

  Fail: ((call: grpc.ServerUnaryCall<{ code: number; details: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    callback({ code: call.request.code, details: call.request.details });
  }) as grpc.handleUnaryCall<unknown, unknown>,

  Throw: (() => {
    throw new Error('handler blew up');
  }) as grpc.handleUnaryCall<unknown, unknown>,

  // A 'data' listener that throws: a bug in a streaming handler.
  Crash: ((call: grpc.ServerDuplexStream<unknown, unknown>) => {
    call.on('data', () => {
      throw new Error('listener blew up');
    });
  }) as grpc.handleBidiStreamingCall<unknown, unknown>,

  Slow: ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    const s = state;
    s.slowCalls++;
    call.on('cancelled', () => s.slowCancelled.resolve());
    s.slowEntered.resolve(call);
    void s.slowRelease.promise.then((value) => {
      try {
        callback(null, value);
      } catch (err) {
        s.handlerErrors.push(err);
      }
    });
  }) as grpc.handleUnaryCall<unknown, unknown>,

  Count: ((_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    state.countCalls++;
    callback(null, { n: state.countCalls });
  }) as grpc.handleUnaryCall<unknown, unknown>,

  // Answers only once `holdTarget` calls are in the handler at the same time.
  Hold: ((call: grpc.ServerUnaryCall<{ i: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    const s = state;
    s.holdWaiting.push(() => callback(null, { i: call.request.i }));
    if (s.holdWaiting.length === s.holdTarget) {
      s.holdAllArrived.resolve();
      for (const answer of s.holdWaiting.splice(0)) answer();
    }
  }) as grpc.handleUnaryCall<unknown, unknown>,

  // Writes `count` messages of `size` bytes without waiting for the client: the server has to
  // queue them and honour the client's flow-control windows.
  Stream: ((call: grpc.ServerWritableStream<{ count: number; size: number }, Buffer>) => {
    const s = state;
    call.on('finish', () => s.streamFinished.resolve());
    const { count, size } = call.request;
    for (let i = 0; i < count; i++) {
      const msg = Buffer.alloc(size, i & 0xff);
      msg.writeUInt32BE(i, 0);
      call.write(msg);
    }
    s.streamWritableLength = call.writableLength;
    call.end();
  }) as grpc.handleServerStreamingCall<unknown, unknown>,

  StreamFail: ((call: grpc.ServerWritableStream<{ count: number; code: number; details: string }, Buffer>) => {
    for (let i = 0; i < call.request.count; i++) call.write(Buffer.from(`m${i}`));
    call.emit('error', { code: call.request.code, details: call.request.details });
  }) as grpc.handleServerStreamingCall<unknown, unknown>,

  // Writes one message and stays open until the client cancels; then writes anyway (must be a no-op).
  StreamWait: ((call: grpc.ServerWritableStream<unknown, Buffer>) => {
    const s = state;
    call.on('cancelled', () => {
      s.streamWaitCancelled.resolve();
      guarded(() => {
        call.write(Buffer.from('late'));
        call.end();
      });
    });
    call.write(Buffer.from('first'));
  }) as grpc.handleServerStreamingCall<unknown, unknown>,

  Chat: ((call: grpc.ServerDuplexStream<{ n?: number; fail?: number; details?: string }, unknown>) => {
    const s = state;
    s.chatMetadata = metadataValues(call.metadata, 'x-chat');
    call.on('cancelled', () => s.chatCancelled.resolve());
    call.on('data', (msg: { n?: number; fail?: number; details?: string }) => {
      if (msg.fail !== undefined) {
        call.emit('error', { code: msg.fail, details: msg.details });
        return;
      }
      call.write({ echo: msg.n });
      s.chatFirstData.resolve(call as grpc.ServerDuplexStream<unknown, unknown>);
    });
    call.on('end', () => {
      if (s.chatStayOpen) return;
      call.end();
      s.chatEnded.resolve({ writableEnded: call.writableEnded, writableLength: call.writableLength });
    });
  }) as grpc.handleBidiStreamingCall<unknown, unknown>,

  // grpc-js's call is a Readable: messages that arrive before the handler listens are buffered.
  LateChat: ((call: grpc.ServerDuplexStream<{ n: number }, unknown>) => {
    setImmediate(() => {
      call.on('data', (msg: { n: number }) => call.write({ echo: msg.n }));
      call.on('end', () => call.end());
    });
  }) as grpc.handleBidiStreamingCall<unknown, unknown>,
};

// ---------------------------------------------------------------------------------------------
// Per-test server and client bookkeeping

const MAX_RECEIVE = 2 * 1024 * 1024;
const silent = pino({ level: 'silent' });
const GenericClient = grpc.makeGenericClientConstructor(SERVICE, 'Lean');

let lean: LeanGrpcServer;
let tcp: net.Server;
let port: number;
let serverSockets: net.Socket[];
let grpcClients: grpc.Client[];
let h2Sessions: http2.ClientHttp2Session[];
let rawSockets: net.Socket[];

beforeEach(async () => {
  state = freshState();
  serverSockets = [];
  grpcClients = [];
  h2Sessions = [];
  rawSockets = [];
  lean = new LeanGrpcServer({ maxReceiveBytes: MAX_RECEIVE, log: silent });
  lean.addService(SERVICE, IMPL);
  tcp = net.createServer((socket) => {
    serverSockets.push(socket);
    lean.handleConnection(socket);
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  port = (tcp.address() as net.AddressInfo).port;
});

afterEach(async () => {
  // Releases any handler still waiting, so nothing is left pending in the server.
  state.slowRelease.resolve({ released: 'afterEach' });
  for (const c of grpcClients) c.close();
  for (const s of h2Sessions) s.destroy();
  for (const s of rawSockets) s.destroy();
  try {
    lean.forceShutdown();
  } finally {
    // Safety net: the test owns the listener; a connection the server failed to close must not
    // keep tcp.close() (and so this hook) waiting.
    for (const s of serverSockets) s.destroy();
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
});

type LeanClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

function newClient(options: grpc.ChannelOptions = {}): LeanClient {
  const c = new GenericClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as unknown as LeanClient;
  grpcClients.push(c);
  return c;
}

const DEADLINE_MS = 20_000;

function unary<Req = unknown, Res = unknown>(
  client: grpc.Client,
  name: string,
  req: Req,
  opts: { metadata?: grpc.Metadata; codec?: { ser: (v: Req) => Buffer; de: (b: Buffer) => Res }; deadlineMs?: number } = {},
): { call: grpc.ClientUnaryCall; result: Promise<Res> } {
  const ser = opts.codec?.ser ?? (json.serialize as (v: Req) => Buffer);
  const de = opts.codec?.de ?? (json.deserialize as (b: Buffer) => Res);
  let call!: grpc.ClientUnaryCall;
  const result = new Promise<Res>((resolve, reject) => {
    call = client.makeUnaryRequest(
      path(name),
      ser,
      de,
      req,
      opts.metadata ?? new grpc.Metadata(),
      { deadline: Date.now() + (opts.deadlineMs ?? DEADLINE_MS) },
      (err, res) => (err ? reject(err) : resolve(res as Res)),
    );
  });
  result.catch(() => undefined);
  return { call, result };
}

const BYTES_CODEC = { ser: (b: Buffer) => b, de: (b: Buffer) => b };

/** Reads a server stream to its end: the messages and the final status. */
function collect<T>(stream: NodeJS.EventEmitter): Promise<{ messages: T[]; status: grpc.StatusObject; error: grpc.ServiceError | null }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    let error: grpc.ServiceError | null = null;
    stream.on('data', (m: T) => messages.push(m));
    stream.on('error', (e: grpc.ServiceError) => (error = e));
    stream.on('status', (status: grpc.StatusObject) => {
      // grpc-js emits 'error' before 'status' for a non-OK status; let it land first.
      setImmediate(() => resolve({ messages, status, error }));
    });
  });
}

function status(code: keyof typeof grpc.status, details?: string | RegExp): { code: number; details?: unknown } {
  if (details === undefined) return { code: grpc.status[code] };
  return { code: grpc.status[code], details: typeof details === 'string' ? details : expect.stringMatching(details) };
}

// ---------------------------------------------------------------------------------------------
// node:http2 client helpers

async function h2Connect(): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  h2Sessions.push(session);
  session.on('error', () => undefined);
  await within(once(session, 'connect'), 10_000, 'the HTTP/2 session to connect');
  return session;
}

interface H2Result {
  headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader;
  trailers: http2.IncomingHttpHeaders | null;
  body: Buffer;
  /** grpc-status from the trailers, or from the headers of a trailers-only response. */
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  streamError: Error | null;
}

const GRPC_REQUEST_HEADERS = {
  ':method': 'POST',
  ':scheme': 'http',
  'content-type': 'application/grpc',
  te: 'trailers',
};

/**
 * Starts a gRPC request by hand. `body` is written as is (each element one write); the request
 * side is ended unless `end` is false. `done` resolves once the response ended (END_STREAM from
 * the server), the stream closed, or failed.
 */
function h2Request(
  session: http2.ClientHttp2Session,
  reqPath: string,
  body: Buffer[],
  opts: { headers?: http2.OutgoingHttpHeaders; end?: boolean } = {},
): { stream: http2.ClientHttp2Stream; done: Promise<H2Result> } {
  const stream = session.request({ ...GRPC_REQUEST_HEADERS, ':path': reqPath, ...opts.headers });
  const done = new Promise<H2Result>((resolve) => {
    let headers = {} as H2Result['headers'];
    let trailers: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    let streamError: Error | null = null;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      const from = trailers ?? headers;
      resolve({
        headers,
        trailers,
        body: Buffer.concat(chunks),
        grpcStatus: from['grpc-status'] as string | undefined,
        grpcMessage: from['grpc-message'] as string | undefined,
        streamError,
      });
    };
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', (e: Error) => {
      streamError = e;
      finish();
    });
  });
  for (const b of body) stream.write(b);
  if (opts.end !== false) stream.end();
  return { stream, done };
}

// ---------------------------------------------------------------------------------------------
// A frame-level HTTP/2 client

const F = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;


function settingsFrame(settings: [number, number][]): Buffer {
  const payload = Buffer.alloc(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(F.SETTINGS, 0, 0, payload);
}

function windowUpdate(stream: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment, 0);
  return frame(F.WINDOW_UPDATE, 0, stream, payload);
}

function rstStream(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code, 0);
  return frame(F.RST_STREAM, 0, stream, payload);
}

/** A frame from the server; a header block (HEADERS + CONTINUATIONs) comes as one, decoded. */
interface ServerFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
  headers?: Record<string, string>;
}

class RawH2 {
  readonly socket: net.Socket;
  readonly frames: ServerFrame[] = [];
  readonly closed = new Deferred();
  private buf: Buffer = Buffer.alloc(0);
  private readonly encoder = hpack.compressor.create({ table: { maxSize: 4096 } });
  private readonly decoder = hpack.decompressor.create({ table: { maxSize: 4096 } });
  private openBlock: { first: ServerFrame; parts: Buffer[] } | null = null;
  private waiters: { pred: (f: ServerFrame) => boolean; d: Deferred<ServerFrame>; what: string }[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed.resolve();
      for (const w of this.waiters.splice(0)) w.d.reject(new Error(`connection closed while waiting for ${w.what}`));
    });
  }

  /** `settings`: [identifier, value] pairs for the client's first SETTINGS frame. */
  static async connect(settings: [number, number][] = []): Promise<RawH2> {
    const socket = net.connect(port, '127.0.0.1');
    rawSockets.push(socket);
    await within(once(socket, 'connect'), 10_000, 'TCP connect');
    const conn = new RawH2(socket);
    socket.write(Buffer.concat([PREFACE, settingsFrame(settings)]));
    return conn;
  }

  /** Payload bytes of the DATA frames received on `stream` so far. */
  dataBytes(stream: number): number {
    return this.frames.filter((f) => f.type === F.DATA && f.stream === stream).reduce((n, f) => n + f.payload.length, 0);
  }

  encodeHeaders(fields: [string, string][]): Buffer {
    this.encoder.write(fields.map(([name, value]) => ({ name, value })));
    return this.encoder.read() ?? Buffer.alloc(0);
  }

  grpcHeaders(reqPath: string, extra: [string, string][] = []): [string, string][] {
    return [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', reqPath],
      [':authority', `127.0.0.1:${port}`],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ...extra,
    ];
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** The first frame so far or to come that matches. */
  waitFor(pred: (f: ServerFrame) => boolean, what: string, ms = 10_000): Promise<ServerFrame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    if (this.closed.settled) return Promise.reject(new Error(`connection closed before ${what}`));
    const d = new Deferred<ServerFrame>();
    this.waiters.push({ pred, d, what });
    return within(d.promise, ms, what);
  }

  /** Round trip: once the server answered this PING it has read every byte sent before it. */
  async sync(): Promise<void> {
    const data = Buffer.from(Math.random().toString(16).slice(2, 10).padEnd(8, '0'), 'latin1');
    this.send(frame(F.PING, 0, 0, data));
    await this.waitFor((f) => f.type === F.PING && (f.flags & FLAG.ACK) !== 0 && f.payload.equals(data), 'PING ack');
  }

  /** The server's whole answer on `stream`: header blocks in order, DATA concatenated, any RST_STREAM. */
  async response(stream: number): Promise<{ blocks: Record<string, string>[]; body: Buffer; rst: number | null }> {
    await this.waitFor(
      (f) => f.stream === stream && (((f.flags & FLAG.END_STREAM) !== 0 && (f.type === F.DATA || f.type === F.HEADERS)) || f.type === F.RST_STREAM),
      `the end of stream ${stream}`,
    );
    const mine = this.frames.filter((f) => f.stream === stream);
    const rst = mine.find((f) => f.type === F.RST_STREAM);
    return {
      blocks: mine.filter((f) => f.type === F.HEADERS).map((f) => f.headers!),
      body: Buffer.concat(mine.filter((f) => f.type === F.DATA).map((f) => dataPayload(f))),
      rst: rst ? rst.payload.readUInt32BE(0) : null,
    };
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) break;
      const f: ServerFrame = {
        type: this.buf[3]!,
        flags: this.buf[4]!,
        stream: this.buf.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.buf.subarray(9, 9 + len)),
      };
      this.buf = this.buf.subarray(9 + len);
      this.onFrame(f);
    }
  }

  private onFrame(f: ServerFrame): void {
    if (f.type === F.SETTINGS && !(f.flags & FLAG.ACK)) this.send(frame(F.SETTINGS, FLAG.ACK, 0));
    if (f.type === F.PING && !(f.flags & FLAG.ACK)) this.send(frame(F.PING, FLAG.ACK, 0, f.payload));
    if (f.type === F.HEADERS) {
      this.openBlock = { first: f, parts: [headersFragment(f)] };
    } else if (f.type === F.CONTINUATION && this.openBlock) {
      this.openBlock.parts.push(f.payload);
    }
    if ((f.type === F.HEADERS || f.type === F.CONTINUATION) && this.openBlock) {
      if (!(f.flags & FLAG.END_HEADERS)) return;
      const block = this.openBlock;
      this.openBlock = null;
      this.decoder.write(Buffer.concat(block.parts));
      this.decoder.execute();
      const headers: Record<string, string> = {};
      for (let h = this.decoder.read(); h !== null; h = this.decoder.read()) headers[h.name] = h.value;
      f = { ...block.first, headers };
    }
    this.frames.push(f);
    for (const w of [...this.waiters]) {
      if (w.pred(f)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.d.resolve(f);
      }
    }
  }
}

function headersFragment(f: ServerFrame): Buffer {
  let p = f.payload;
  let pad = 0;
  if (f.flags & FLAG.PADDED) {
    pad = p[0]!;
    p = p.subarray(1);
  }
  if (f.flags & FLAG.PRIORITY) p = p.subarray(5);
  return p.subarray(0, p.length - pad);
}

function dataPayload(f: ServerFrame): Buffer {
  if (!(f.flags & FLAG.PADDED)) return f.payload;
  const pad = f.payload[0]!;
  return f.payload.subarray(1, f.payload.length - pad);
}

// =============================================================================================
// Tests

describe('unary calls with the grpc-js client', () => {
  it('round-trips a request and its response through the generated client', async () => {
    const client = newClient();
    const res = await new Promise<unknown>((resolve, reject) => {
      client.Echo!({ value: { hello: 'wörld', n: [1, 2, 3] } }, { deadline: Date.now() + DEADLINE_MS }, (err: grpc.ServiceError | null, r: unknown) =>
        err ? reject(err) : resolve(r),
      );
    });
    expect(res).toEqual({ value: { hello: 'wörld', n: [1, 2, 3] }, metadata: {} });
  });

  it('shows the client metadata in call.metadata.get(key), repeated keys and binary values included', async () => {
    const client = newClient();
    const md = new grpc.Metadata();
    md.set('token', 'abc.def');
    md.add('x-multi', 'one');
    md.add('x-multi', 'two');
    md.set('x-raw-bin', Buffer.from([0, 1, 2, 0xfe, 0xff]));
    const res = await unary(client, 'Echo', { keys: ['token', 'x-multi', 'x-raw-bin', 'x-absent'] }, { metadata: md }).result;
    expect(res).toEqual({
      metadata: { token: ['abc.def'], 'x-multi': ['one', 'two'], 'x-raw-bin': ['hex:000102feff'], 'x-absent': [] },
    });
  });

  it('answers an unknown method or service with UNIMPLEMENTED', async () => {
    const client = newClient();
    const call = (p: string): Promise<unknown> =>
      new Promise((resolve, reject) => {
        client.makeUnaryRequest(p, json.serialize, json.deserialize, {}, { deadline: Date.now() + DEADLINE_MS }, (err, r) => (err ? reject(err) : resolve(r)));
      });
    await expect(call(`/${SERVICE_NAME}/Nope`)).rejects.toMatchObject(status('UNIMPLEMENTED'));
    await expect(call('/no.such.Service/Echo')).rejects.toMatchObject(status('UNIMPLEMENTED'));
    // The connection is still good.
    await expect(unary(client, 'Echo', { value: 1 }).result).resolves.toEqual({ value: 1, metadata: {} });
  });

  it('sends a handler error as its code and details; "%", non-ASCII and URI-reserved characters survive', async () => {
    const client = newClient();
    const details = 'etcdserver: 100% ключ не найден ✓ — #?&/=+;:@$, "quoted" %41 tab\there\nline two';
    await expect(unary(client, 'Fail', { code: grpc.status.NOT_FOUND, details }).result).rejects.toMatchObject(status('NOT_FOUND', details));
    await expect(unary(client, 'Fail', { code: grpc.status.FAILED_PRECONDITION, details: 'plain ascii' }).result).rejects.toMatchObject(
      status('FAILED_PRECONDITION', 'plain ascii'),
    );
  });

  it('answers a handler that throws synchronously with UNKNOWN, and keeps serving', async () => {
    const client = newClient();
    await expect(unary(client, 'Throw', {}).result).rejects.toMatchObject(status('UNKNOWN'));
    await expect(unary(client, 'Echo', { value: 'after' }).result).resolves.toMatchObject({ value: 'after' });
  });

  it('answers a request the deserializer rejects with INTERNAL', async () => {
    const client = newClient();
    const notJson = Buffer.from('{not json', 'utf8');
    await expect(unary(client, 'Echo', notJson, { codec: { ser: (b: Buffer) => b, de: json.deserialize } }).result).rejects.toMatchObject(status('INTERNAL'));
    await expect(unary(client, 'Echo', { value: 'after' }).result).resolves.toMatchObject({ value: 'after' });
  });

  it('takes a 1 MiB request over many DATA frames and sends a 1 MiB response back', async () => {
    const client = newClient();
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32BE(i, i);
    const digest = await unary(client, 'Digest', big, { codec: { ser: (b: Buffer) => b, de: json.deserialize } }).result;
    expect(digest).toEqual({ length: big.length, sha256: createHash('sha256').update(big).digest('hex') });
    const echoed = await unary(client, 'Bytes', big, { codec: BYTES_CODEC }).result;
    expect(echoed.length).toBe(big.length);
    expect(echoed.equals(big)).toBe(true);
  });

  it('accepts a message of exactly maxReceiveBytes; one byte more is RESOURCE_EXHAUSTED with grpc-js\'s message', async () => {
    const client = newClient();
    const codec = { ser: (b: Buffer) => b, de: json.deserialize };
    await expect(unary(client, 'Digest', Buffer.alloc(MAX_RECEIVE, 7), { codec }).result).resolves.toMatchObject({ length: MAX_RECEIVE });
    await expect(unary(client, 'Digest', Buffer.alloc(MAX_RECEIVE + 1, 7), { codec }).result).rejects.toMatchObject(
      status('RESOURCE_EXHAUSTED', `Received message larger than max (${MAX_RECEIVE + 1} vs ${MAX_RECEIVE})`),
    );
    await expect(unary(client, 'Echo', { value: 'after' }).result).resolves.toMatchObject({ value: 'after' });
  });

  it('answers a unary call with no request message, or with two, with UNIMPLEMENTED', async () => {
    const client = newClient();
    const clientStream = (messages: unknown[]): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const s = client.makeClientStreamRequest(path('Echo'), json.serialize, json.deserialize, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS }, (err, r) =>
          err ? reject(err) : resolve(r),
        );
        for (const m of messages) s.write(m);
        s.end();
      });
    await expect(clientStream([])).rejects.toMatchObject(status('UNIMPLEMENTED'));
    await expect(clientStream([{ value: 1 }, { value: 2 }])).rejects.toMatchObject(status('UNIMPLEMENTED'));
    await expect(clientStream([{ value: 3 }])).resolves.toEqual({ value: 3, metadata: {} });
  });

  it('passes an empty (0-byte) request message and an empty response message', async () => {
    const client = newClient();
    const echoed = await unary(client, 'Bytes', Buffer.alloc(0), { codec: BYTES_CODEC }).result;
    expect(echoed.length).toBe(0);
    const session = await h2Connect();
    const r = await within(h2Request(session, path('Bytes'), [lpm(Buffer.alloc(0))]).done, 10_000, 'the response');
    expect(r.grpcStatus).toBe('0');
    expect(r.body.equals(Buffer.from([0, 0, 0, 0, 0]))).toBe(true);
  });

  it('decodes metadata over many calls: HPACK dynamic table with evictions, Huffman over all printable ASCII', async () => {
    const client = newClient();
    let printable = '';
    for (let c = 0x21; c <= 0x7e; c++) printable += String.fromCharCode(c);
    printable = `a ${printable} z`;
    const N = 200;
    for (let batch = 0; batch < N; batch += 20) {
      const calls = [];
      for (let i = batch; i < batch + 20; i++) {
        const md = new grpc.Metadata();
        md.set('x-id', String(i));
        // Values of growing size with a unique prefix: new table entries, older ones evicted.
        md.set('x-pad', `${i}:${'p'.repeat(200 + 7 * i)}`);
        md.set('x-printable', printable);
        calls.push(
          unary<EchoRequest, { metadata: Record<string, string[]> }>(client, 'Echo', { keys: ['x-id', 'x-pad', 'x-printable'] }, { metadata: md }).result.then((r) => {
            expect(r.metadata).toEqual({ 'x-id': [String(i)], 'x-pad': [`${i}:${'p'.repeat(200 + 7 * i)}`], 'x-printable': [printable] });
          }),
        );
      }
      await Promise.all(calls);
    }
  });

  it('sends an error message too long for one HEADERS frame (CONTINUATION) whole', async () => {
    const client = newClient();
    // 2,800 characters, 5,600 UTF-8 bytes, 16,800 bytes percent-encoded: more than 16 KiB.
    const details = 'ключ'.repeat(700);
    await expect(unary(client, 'Fail', { code: grpc.status.OUT_OF_RANGE, details }).result).rejects.toMatchObject(status('OUT_OF_RANGE', details));
    await expect(unary(client, 'Echo', { value: 'after' }).result).resolves.toMatchObject({ value: 'after' });
  });

  it('fails a call whose request headers are over the server\'s limit promptly, and keeps the connection serving', async () => {
    const client = newClient();
    await unary(client, 'Echo', {}).result;
    const md = new grpc.Metadata();
    md.set('x-huge', 'h'.repeat(100_000));
    const err = await unary(client, 'Echo', {}, { metadata: md, deadlineMs: 5000 }).result.then(
      () => null,
      (e: grpc.ServiceError) => e,
    );
    expect(err).not.toBeNull();
    // Not a deadline: a refusal the client retries forever (REFUSED_STREAM) would end that way.
    expect(err!.code).not.toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(err!.code).not.toBe(grpc.status.OK);
    await expect(unary(client, 'Echo', { value: 'after' }).result).resolves.toMatchObject({ value: 'after' });
  });

  it('serves 1,000 concurrent calls on one connection, all in the handler at the same time', async () => {
    const client = newClient();
    // One call first so the connection exists before the burst.
    await unary(client, 'Echo', {}).result;
    const N = 1000;
    state.holdTarget = N;
    const calls = Array.from({ length: N }, (_, i) => unary<{ i: number }, { i: number }>(client, 'Hold', { i }).result);
    await within(state.holdAllArrived.promise, 30_000, `all ${N} calls to reach the handler (server limits concurrent streams?)`);
    const results = await Promise.all(calls);
    expect(results.map((r) => r.i)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(serverSockets).toHaveLength(1);
  });

  it('fires "cancelled" on the server call when the client cancels; a late callback is harmless', async () => {
    const client = newClient();
    const { call, result } = unary(client, 'Slow', {});
    await within(state.slowEntered.promise, 10_000, 'the Slow handler');
    call.cancel();
    await expect(result).rejects.toMatchObject(status('CANCELLED'));
    await within(state.slowCancelled.promise, 10_000, "the server call's 'cancelled' event");
    state.slowRelease.resolve({ late: true });
    await turns();
    expect(state.handlerErrors).toEqual([]);
    await expect(unary(client, 'Echo', { value: 'after' }).result).resolves.toMatchObject({ value: 'after' });
  });
});

describe('streaming calls with the grpc-js client', () => {
  it('delivers 300 messages of 64 KiB written at once, complete and in order, through 64 KiB windows', async () => {
    const client = newClient();
    const COUNT = 300;
    const SIZE = 64 * 1024;
    const stream = client.makeServerStreamRequest(path('Stream'), json.serialize, bytes.deserialize, { count: COUNT, size: SIZE }, new grpc.Metadata(), {
      deadline: Date.now() + DEADLINE_MS,
    });
    const { messages, status: st, error } = await collect<Buffer>(stream);
    expect(error).toBeNull();
    expect(st.code).toBe(grpc.status.OK);
    expect(messages).toHaveLength(COUNT);
    messages.forEach((m, i) => {
      expect(m.length).toBe(SIZE);
      expect(m.readUInt32BE(0)).toBe(i);
      expect(m[SIZE - 1]).toBe(i & 0xff);
    });
    await within(state.streamFinished.promise, 10_000, "the server call's 'finish' event");
  });

  it('ends a server stream with the error the handler emits, after the messages written before it', async () => {
    const client = newClient();
    const stream = client.makeServerStreamRequest(
      path('StreamFail'),
      json.serialize,
      bytes.deserialize,
      { count: 2, code: grpc.status.ABORTED, details: 'stream aborted: 50% done' },
      new grpc.Metadata(),
      { deadline: Date.now() + DEADLINE_MS },
    );
    const { messages, error } = await collect<Buffer>(stream);
    expect(messages.map((m) => m.toString())).toEqual(['m0', 'm1']);
    expect(error).toMatchObject(status('ABORTED', 'stream aborted: 50% done'));
  });

  it('answers a server-streaming call with two request messages, or none, with UNIMPLEMENTED', async () => {
    const client = newClient();
    for (const messages of [[{ count: 1, size: 8 }, { count: 1, size: 8 }], []]) {
      const bidi = client.makeBidiStreamRequest(path('Stream'), json.serialize, bytes.deserialize, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS });
      const done = collect(bidi);
      for (const m of messages) bidi.write(m);
      bidi.end();
      const { error } = await done;
      expect(error).toMatchObject(status('UNIMPLEMENTED'));
    }
  });

  it('fires "cancelled" on a server-streaming call the client cancels; writes after it are no-ops', async () => {
    const client = newClient();
    const stream = client.makeServerStreamRequest(path('StreamWait'), json.serialize, bytes.deserialize, {}, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const done = collect(stream);
    const [first] = (await within(once(stream, 'data'), 10_000, 'the first streamed message')) as [Buffer];
    expect(first.toString()).toBe('first');
    stream.cancel();
    const { error } = await done;
    expect(error).toMatchObject(status('CANCELLED'));
    await within(state.streamWaitCancelled.promise, 10_000, "the server call's 'cancelled' event");
    await turns();
    expect(state.handlerErrors).toEqual([]);
    await expect(unary(client, 'Echo', { value: 'after' }).result).resolves.toMatchObject({ value: 'after' });
  });

  it('runs a bidi call: metadata, echoes in order, end after the client ends', async () => {
    const client = newClient();
    const md = new grpc.Metadata();
    md.set('x-chat', 'room-7');
    const bidi = client.makeBidiStreamRequest(path('Chat'), json.serialize, json.deserialize, md, { deadline: Date.now() + DEADLINE_MS });
    const done = collect<{ echo: number }>(bidi);
    for (let n = 1; n <= 3; n++) bidi.write({ n });
    // A reply before half-close: the call is really bidirectional.
    const [firstReply] = (await within(once(bidi, 'data'), 10_000, 'the first echo')) as [{ echo: number }];
    expect(firstReply).toEqual({ echo: 1 });
    bidi.write({ n: 4 });
    bidi.end();
    const { messages, status: st, error } = await done;
    expect(error).toBeNull();
    expect(st.code).toBe(grpc.status.OK);
    // collect's listener and `once`'s both see every message.
    expect(messages).toEqual([{ echo: 1 }, { echo: 2 }, { echo: 3 }, { echo: 4 }]);
    expect(state.chatMetadata).toEqual(['room-7']);
    const ended = await within(state.chatEnded.promise, 10_000, 'the bidi handler to see the end');
    expect(ended.writableEnded).toBe(true);
    expect(typeof ended.writableLength).toBe('number');
  });

  it('fails a bidi call with the status the handler emits as an error', async () => {
    const client = newClient();
    const bidi = client.makeBidiStreamRequest(path('Chat'), json.serialize, json.deserialize, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const done = collect<{ echo: number }>(bidi);
    bidi.write({ n: 1 });
    bidi.write({ fail: grpc.status.FAILED_PRECONDITION, details: 'etcdserver: not leader ✗' });
    const { messages, error } = await done;
    expect(messages).toEqual([{ echo: 1 }]);
    expect(error).toMatchObject(status('FAILED_PRECONDITION', 'etcdserver: not leader ✗'));
    bidi.end();
  });

  it('buffers bidi messages for a handler that starts listening a tick later (grpc-js calls are Readables)', async () => {
    const client = newClient();
    const bidi = client.makeBidiStreamRequest(path('LateChat'), json.serialize, json.deserialize, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const done = collect<{ echo: number }>(bidi);
    bidi.write({ n: 1 });
    bidi.write({ n: 2 });
    bidi.end();
    const { messages, error } = await within(done, 10_000, 'the LateChat call to end');
    expect(error).toBeNull();
    expect(messages).toEqual([{ echo: 1 }, { echo: 2 }]);
  });

  it('lets the server end a bidi call the client still has open (OK status), as the coordinator does at shutdown', async () => {
    state.chatStayOpen = true;
    const client = newClient();
    const bidi = client.makeBidiStreamRequest(path('Chat'), json.serialize, json.deserialize, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const done = collect<{ echo: number }>(bidi);
    bidi.write({ n: 1 });
    const call = await within(state.chatFirstData.promise, 10_000, 'the first message at the server');
    call.end();
    const { messages, status: st, error } = await within(done, 10_000, 'the call to end');
    expect(error).toBeNull();
    expect(st.code).toBe(grpc.status.OK);
    expect(messages).toEqual([{ echo: 1 }]);
    bidi.end();
    await expect(unary(client, 'Echo', { value: 'after' }).result).resolves.toMatchObject({ value: 'after' });
  });

  it('closes only the connection whose streaming handler throws; the process and new connections go on', async () => {
    const client = newClient();
    const bidi = client.makeBidiStreamRequest(path('Crash'), json.serialize, json.deserialize, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const done = collect<unknown>(bidi);
    bidi.write({ n: 1 });
    const { error } = await done;
    expect(error).not.toBeNull();
    expect(error!.code).not.toBe(grpc.status.OK);
    const other = newClient();
    await expect(unary(other, 'Echo', { value: 'still here' }).result).resolves.toMatchObject({ value: 'still here' });
  });

  it('fires "cancelled" on a bidi call the client cancels', async () => {
    // grpc-js's cancel() half-closes the stream (empty DATA with END_STREAM) before its RST_STREAM:
    // a handler that ended the call on 'end' would have finished it normally before the reset.
    state.chatStayOpen = true;
    const client = newClient();
    const bidi = client.makeBidiStreamRequest(path('Chat'), json.serialize, json.deserialize, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const done = collect(bidi);
    bidi.write({ n: 1 });
    await within(once(bidi, 'data'), 10_000, 'the first echo');
    bidi.cancel();
    const { error } = await done;
    expect(error).toMatchObject(status('CANCELLED'));
    await within(state.chatCancelled.promise, 10_000, "the server call's 'cancelled' event");
  });
});

describe('gRPC by hand over node:http2 (h2c)', () => {
  it('answers a unary call: :status 200, application/grpc content type, one prefixed message, grpc-status 0 in the trailers', async () => {
    const session = await h2Connect();
    const { done } = h2Request(session, path('Echo'), [lpm(jsonBytes({ value: 'raw' }))]);
    const r = await within(done, 10_000, 'the response');
    expect(r.streamError).toBeNull();
    expect(r.headers[':status']).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(/^application\/grpc/);
    expect(r.trailers).not.toBeNull();
    expect(r.trailers!['grpc-status']).toBe('0');
    const msgs = parseMessages(r.body);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]!.compressed).toBe(0);
    expect(JSON.parse(msgs[0]!.payload.toString())).toEqual({ value: 'raw', metadata: {} });
  });

  it('sends an error as trailers with a percent-encoded grpc-message', async () => {
    const session = await h2Connect();
    const details = '100% ключ';
    const { done } = h2Request(session, path('Fail'), [lpm(jsonBytes({ code: grpc.status.NOT_FOUND, details }))]);
    const r = await within(done, 10_000, 'the response');
    expect(r.headers[':status']).toBe(200);
    expect(r.grpcStatus).toBe(String(grpc.status.NOT_FOUND));
    expect(r.grpcMessage).toBeDefined();
    // Only printable ASCII goes on the wire; percent-decoding gives the details back.
    expect(r.grpcMessage!).toMatch(/^[\x20-\x7e]*$/);
    expect(r.grpcMessage!).not.toContain('% ');
    expect(decodeURIComponent(r.grpcMessage!)).toBe(details);
  });

  it('accepts an :authority with a scheme (as etcd\'s Go client sends)', async () => {
    const session = await h2Connect();
    const { done } = h2Request(session, path('Echo'), [lpm(jsonBytes({ value: 'go' }))], { headers: { ':authority': 'http://127.0.0.1:2379' } });
    const r = await within(done, 10_000, 'the response');
    expect(r.streamError).toBeNull();
    expect(r.headers[':status']).toBe(200);
    expect(r.grpcStatus).toBe('0');
    expect(JSON.parse(parseMessages(r.body)[0]!.payload.toString())).toEqual({ value: 'go', metadata: {} });
    // And the session keeps working for a normal request after it.
    const again = await within(h2Request(session, path('Echo'), [lpm(jsonBytes({ value: 2 }))]).done, 10_000, 'the second response');
    expect(again.grpcStatus).toBe('0');
  });

  it('answers a PING', async () => {
    const session = await h2Connect();
    const payload = Buffer.from('shoal-pg');
    const [err, , echoed] = await within(
      new Promise<[Error | null, number, Buffer]>((resolve) => {
        session.ping(payload, (e, duration, p) => resolve([e, duration, p]));
      }),
      10_000,
      'the PING ack',
    );
    expect(err).toBeNull();
    expect(Buffer.from(echoed).equals(payload)).toBe(true);
  });

  it('honours grpc-timeout with DEADLINE_EXCEEDED; the late answer is dropped and the server keeps serving', async () => {
    const session = await h2Connect();
    const { done } = h2Request(session, path('Slow'), [lpm(jsonBytes({}))], { headers: { 'grpc-timeout': '100m' } });
    await within(state.slowEntered.promise, 10_000, 'the Slow handler');
    const r = await within(done, 10_000, 'the deadline to pass');
    expect(r.grpcStatus).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    state.slowRelease.resolve({ late: true });
    await turns();
    expect(state.handlerErrors).toEqual([]);
    const next = await within(h2Request(session, path('Echo'), [lpm(jsonBytes({ value: 'next' }))]).done, 10_000, 'the next response');
    expect(next.grpcStatus).toBe('0');
  });

  it('ends a server-streaming call at its grpc-timeout with DEADLINE_EXCEEDED and fires "cancelled"', async () => {
    const session = await h2Connect();
    const { done } = h2Request(session, path('StreamWait'), [lpm(jsonBytes({}))], { headers: { 'grpc-timeout': '100m' } });
    const r = await within(done, 10_000, 'the deadline to pass');
    expect(r.grpcStatus).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(parseMessages(r.body).map((m) => m.payload.toString())).toEqual(['first']);
    await within(state.streamWaitCancelled.promise, 10_000, "the server call's 'cancelled' event");
    await turns();
    expect(state.handlerErrors).toEqual([]);
  });

  it('refuses a compressed message (gzip encoding, compressed flag set) with UNIMPLEMENTED', async () => {
    const session = await h2Connect();
    const gz = gzipSync(jsonBytes({ value: 'z' }));
    const r = await within(h2Request(session, path('Echo'), [lpm(gz, true)], { headers: { 'grpc-encoding': 'gzip' } }).done, 10_000, 'the response');
    expect(r.grpcStatus).toBe(String(grpc.status.UNIMPLEMENTED));
  });

  it('refuses a message with the compressed flag set and no grpc-encoding with UNIMPLEMENTED', async () => {
    const session = await h2Connect();
    const r = await within(h2Request(session, path('Echo'), [lpm(jsonBytes({ value: 'z' }), true)]).done, 10_000, 'the response');
    expect(r.grpcStatus).toBe(String(grpc.status.UNIMPLEMENTED));
  });

  it('refuses a request declaring grpc-encoding other than identity with UNIMPLEMENTED; identity is fine', async () => {
    const session = await h2Connect();
    const identity = await within(
      h2Request(session, path('Echo'), [lpm(jsonBytes({ value: 'i' }))], { headers: { 'grpc-encoding': 'identity' } }).done,
      10_000,
      'the identity response',
    );
    expect(identity.grpcStatus).toBe('0');
    const gzip = await within(h2Request(session, path('Echo'), [lpm(jsonBytes({ value: 'g' }))], { headers: { 'grpc-encoding': 'gzip' } }).done, 10_000, 'the gzip response');
    expect(gzip.grpcStatus).toBe(String(grpc.status.UNIMPLEMENTED));
  });

  it('answers RESOURCE_EXHAUSTED as soon as a length prefix over the limit arrives, without the body', async () => {
    const session = await h2Connect();
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(1 << 30, 1);
    const { stream, done } = h2Request(session, path('Digest'), [prefix], { end: false });
    const r = await within(done, 10_000, 'RESOURCE_EXHAUSTED before the request ends');
    expect(r.grpcStatus).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
    expect(decodeURIComponent(r.grpcMessage ?? '')).toBe(`Received message larger than max (${1 << 30} vs ${MAX_RECEIVE})`);
    stream.close();
  });

  it('reads a flow-controlled 300 × 64 KiB server stream through a 16 KiB stream window', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 16 * 1024 } });
    h2Sessions.push(session);
    session.on('error', () => undefined);
    await within(once(session, 'connect'), 10_000, 'connect');
    const COUNT = 300;
    const SIZE = 64 * 1024;
    const r = await within(h2Request(session, path('Stream'), [lpm(jsonBytes({ count: COUNT, size: SIZE }))]).done, 30_000, 'the whole stream');
    expect(r.grpcStatus).toBe('0');
    const msgs = parseMessages(r.body);
    expect(msgs).toHaveLength(COUNT);
    msgs.forEach((m, i) => {
      expect(m.payload.length).toBe(SIZE);
      expect(m.payload.readUInt32BE(0)).toBe(i);
      expect(m.payload[SIZE - 1]).toBe(i & 0xff);
    });
  });
});

describe('frame-level clients', () => {
  it('takes a request as Go sends it: message in DATA, then an empty DATA frame with END_STREAM', async () => {
    const c = await RawH2.connect();
    c.send(
      frame(F.HEADERS, FLAG.END_HEADERS, 1, c.encodeHeaders(c.grpcHeaders(path('Echo'), [['user-agent', 'grpc-go/1.59.0'], ['grpc-timeout', '4999953u']]))),
      frame(F.DATA, 0, 1, lpm(jsonBytes({ value: 'go-style' }))),
      frame(F.DATA, FLAG.END_STREAM, 1),
    );
    const r = await c.response(1);
    expect(r.rst).toBeNull();
    expect(r.blocks[0]![':status']).toBe('200');
    expect(r.blocks.at(-1)!['grpc-status']).toBe('0');
    expect(JSON.parse(parseMessages(r.body)[0]!.payload.toString())).toEqual({ value: 'go-style', metadata: {} });
  });

  it('reassembles a header block split over HEADERS + CONTINUATION and a message split over DATA frames', async () => {
    const c = await RawH2.connect();
    const block = c.encodeHeaders(c.grpcHeaders(path('Echo'), [['x-split', 'yes']]));
    const cut = Math.floor(block.length / 2);
    const msg = lpm(jsonBytes({ value: 'split', keys: ['x-split'] }));
    c.send(
      frame(F.HEADERS, 0, 1, block.subarray(0, cut)),
      frame(F.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(cut)),
      frame(F.DATA, 0, 1, msg.subarray(0, 2)),
      frame(F.DATA, 0, 1, msg.subarray(2, 7)),
      frame(F.DATA, FLAG.END_STREAM, 1, msg.subarray(7)),
    );
    const r = await c.response(1);
    expect(r.blocks.at(-1)!['grpc-status']).toBe('0');
    expect(JSON.parse(parseMessages(r.body)[0]!.payload.toString())).toEqual({ value: 'split', metadata: { 'x-split': ['yes'] } });
  });

  it('ends the connection on a header block that expands past 4 x the header limit (an HPACK bomb), and serves others', async () => {
    const c = await RawH2.connect();
    // One 4,000-byte entry added to the dynamic table (index 62), then referenced 100 times: a
    // ~4 KiB block that decodes to ~400 KB of headers.
    const name = Buffer.from('x-bomb');
    const value = Buffer.alloc(4000, 'a');
    // Literal with incremental indexing, new name; the value's length 4000 as a 7-bit-prefix
    // integer: 127, then 3873 = 33 + 30 * 128 in 7-bit groups.
    const lit = Buffer.concat([Buffer.from([0x40, name.length]), name, Buffer.from([0x7f, 0x80 | 33, 30]), value]);
    const block = Buffer.concat([lit, Buffer.alloc(100, 0x80 | 62)]);
    c.send(frame(F.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, block));
    const goaway = await c.waitFor((f) => f.type === F.GOAWAY, 'GOAWAY');
    expect(goaway.payload.readUInt32BE(4)).toBe(0x9); // COMPRESSION_ERROR
    await within(c.closed.promise, 10_000, 'the connection to close');
    const client = newClient();
    await expect(unary(client, 'Echo', { value: 'after the bomb' }).result).resolves.toMatchObject({ value: 'after the bomb' });
  });

  it('handles PADDED and PRIORITY flags on HEADERS and PADDED DATA (RFC 9113)', async () => {
    const c = await RawH2.connect();
    const block = c.encodeHeaders(c.grpcHeaders(path('Echo')));
    const pad = 3;
    const priority = Buffer.from([0, 0, 0, 0, 15]); // depends on stream 0, weight 16
    const headersPayload = Buffer.concat([Buffer.from([pad]), priority, block, Buffer.alloc(pad)]);
    const msg = lpm(jsonBytes({ value: 'padded' }));
    const dataPayload = Buffer.concat([Buffer.from([pad]), msg, Buffer.alloc(pad)]);
    c.send(frame(F.HEADERS, FLAG.END_HEADERS | FLAG.PADDED | FLAG.PRIORITY, 1, headersPayload), frame(F.DATA, FLAG.END_STREAM | FLAG.PADDED, 1, dataPayload));
    const r = await c.response(1);
    expect(r.blocks.at(-1)!['grpc-status']).toBe('0');
    expect(JSON.parse(parseMessages(r.body)[0]!.payload.toString())).toEqual({ value: 'padded', metadata: {} });
  });

  it('delivers two messages that share one DATA frame to a bidi handler as two messages', async () => {
    const c = await RawH2.connect();
    c.send(
      frame(F.HEADERS, FLAG.END_HEADERS, 1, c.encodeHeaders(c.grpcHeaders(path('Chat')))),
      frame(F.DATA, FLAG.END_STREAM, 1, Buffer.concat([lpm(jsonBytes({ n: 1 })), lpm(jsonBytes({ n: 2 }))])),
    );
    const r = await c.response(1);
    expect(r.blocks.at(-1)!['grpc-status']).toBe('0');
    expect(parseMessages(r.body).map((m) => JSON.parse(m.payload.toString()) as unknown)).toEqual([{ echo: 1 }, { echo: 2 }]);
  });

  it('fires "cancelled" on a bidi call reset with a bare RST_STREAM (as Go cancels)', async () => {
    const c = await RawH2.connect();
    c.send(frame(F.HEADERS, FLAG.END_HEADERS, 1, c.encodeHeaders(c.grpcHeaders(path('Chat')))), frame(F.DATA, 0, 1, lpm(jsonBytes({ n: 1 }))));
    await c.waitFor((f) => f.type === F.DATA && f.stream === 1, 'the echo');
    c.send(rstStream(1, 0x8 /* CANCEL */));
    await within(state.chatCancelled.promise, 10_000, "the server call's 'cancelled' event");
    // The connection is fine afterwards.
    c.send(frame(F.HEADERS, FLAG.END_HEADERS, 3, c.encodeHeaders(c.grpcHeaders(path('Echo')))), frame(F.DATA, FLAG.END_STREAM, 3, lpm(jsonBytes({ value: 3 }))));
    const r = await c.response(3);
    expect(r.blocks.at(-1)!['grpc-status']).toBe('0');
  });

  it('holds DATA beyond a small stream window, counts it in writableLength, and sends it and the trailers on WINDOW_UPDATE', async () => {
    const WINDOW = 16 * 1024;
    const c = await RawH2.connect([[SETTINGS_INITIAL_WINDOW_SIZE, WINDOW]]);
    const COUNT = 8;
    const SIZE = 32 * 1024;
    c.send(
      frame(F.HEADERS, FLAG.END_HEADERS, 1, c.encodeHeaders(c.grpcHeaders(path('Stream')))),
      frame(F.DATA, FLAG.END_STREAM, 1, lpm(jsonBytes({ count: COUNT, size: SIZE }))),
    );
    await within(state.streamFinished.promise, 10_000, "the handler's end()");
    await c.sync();
    const sent = c.dataBytes(1);
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(WINDOW);
    expect(c.frames.some((f) => f.stream === 1 && f.type === F.HEADERS && (f.flags & FLAG.END_STREAM) !== 0)).toBe(false);
    // What is held back is what the client's window does not allow yet.
    expect(state.streamWritableLength).toBeGreaterThanOrEqual(COUNT * (SIZE + 5) - WINDOW);
    expect(state.streamWritableLength).toBeLessThanOrEqual(COUNT * (SIZE + 5));
    c.send(windowUpdate(0, 1 << 20), windowUpdate(1, 1 << 20));
    const r = await c.response(1);
    expect(r.rst).toBeNull();
    expect(r.blocks.at(-1)!['grpc-status']).toBe('0');
    const msgs = parseMessages(r.body);
    expect(msgs).toHaveLength(COUNT);
    msgs.forEach((m, i) => expect(m.payload.readUInt32BE(0)).toBe(i));
  });

  it('shares the connection window between streams and resumes both on a connection WINDOW_UPDATE', async () => {
    const c = await RawH2.connect([[SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20]]);
    const req = lpm(jsonBytes({ count: 2, size: 50_000 }));
    for (const id of [1, 3]) {
      c.send(frame(F.HEADERS, FLAG.END_HEADERS, id, c.encodeHeaders(c.grpcHeaders(path('Stream')))), frame(F.DATA, FLAG.END_STREAM, id, req));
    }
    await c.sync();
    // The connection window is the default 65,535: not both 100 KB answers fit.
    const sent = c.dataBytes(1) + c.dataBytes(3);
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(65_535);
    c.send(windowUpdate(0, 1 << 20));
    for (const id of [1, 3]) {
      const r = await c.response(id);
      expect(r.blocks.at(-1)!['grpc-status']).toBe('0');
      expect(parseMessages(r.body).map((m) => m.payload.length)).toEqual([50_000, 50_000]);
    }
  });

  it('closes a connection that does not start with the HTTP/2 preface, and keeps serving the others', async () => {
    const client = newClient();
    await expect(unary(client, 'Echo', { value: 'before' }).result).resolves.toMatchObject({ value: 'before' });
    const bad = net.connect(port, '127.0.0.1');
    rawSockets.push(bad);
    bad.on('error', () => undefined);
    bad.on('data', () => undefined);
    const closed = once(bad, 'close');
    await within(once(bad, 'connect'), 10_000, 'TCP connect');
    bad.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    await within(closed, 10_000, 'the server to close the garbage connection');
    await expect(unary(client, 'Echo', { value: 'after' }).result).resolves.toMatchObject({ value: 'after' });
    const fresh = newClient();
    await expect(unary(fresh, 'Echo', { value: 'fresh' }).result).resolves.toMatchObject({ value: 'fresh' });
  });
});

describe('shutdown', () => {
  it('tryShutdown with nothing open calls back, and closes idle connections', async () => {
    const client = newClient();
    await unary(client, 'Echo', {}).result;
    const cb = new Deferred();
    lean.tryShutdown(() => cb.resolve());
    await within(cb.promise, 10_000, 'the tryShutdown callback');
    await within(Promise.all(serverSockets.map((s) => (s.destroyed ? Promise.resolve() : once(s, 'close')))), 10_000, 'the server sockets to close');
  });

  it('tryShutdown sends GOAWAY, waits for the in-flight call to answer, then calls back', async () => {
    const client = newClient();
    const session = await h2Connect();
    const goaway = new Deferred();
    session.on('goaway', () => goaway.resolve());
    const { result } = unary(client, 'Slow', {});
    const call = await within(state.slowEntered.promise, 10_000, 'the Slow handler');
    expect(call).toBeDefined();
    const cb = new Deferred();
    lean.tryShutdown(() => cb.resolve());
    await within(goaway.promise, 10_000, 'GOAWAY on an idle connection');
    await turns(10);
    expect(cb.settled).toBe(false);
    state.slowRelease.resolve({ done: 'graceful' });
    await expect(result).resolves.toEqual({ done: 'graceful' });
    await within(cb.promise, 10_000, 'the tryShutdown callback');
    expect(state.slowCancelled.settled).toBe(false);
  });

  it('after GOAWAY a new stream is not served, while the open one completes', async () => {
    const c = await RawH2.connect();
    c.send(
      frame(F.HEADERS, FLAG.END_HEADERS, 1, c.encodeHeaders(c.grpcHeaders(path('Slow')))),
      frame(F.DATA, FLAG.END_STREAM, 1, lpm(jsonBytes({}))),
    );
    await within(state.slowEntered.promise, 10_000, 'the Slow handler');
    const cb = new Deferred();
    lean.tryShutdown(() => cb.resolve());
    // A graceful shutdown may first announce 2^31-1 and only then the real last stream id.
    const goaway = await c.waitFor((f) => f.type === F.GOAWAY && (f.payload.readUInt32BE(0) & 0x7fffffff) !== 0x7fffffff, 'a GOAWAY with the last stream id');
    expect(goaway.payload.readUInt32BE(0) & 0x7fffffff).toBe(1);
    expect(goaway.payload.readUInt32BE(4)).toBe(0); // NO_ERROR
    c.send(
      frame(F.HEADERS, FLAG.END_HEADERS, 3, c.encodeHeaders(c.grpcHeaders(path('Count')))),
      frame(F.DATA, FLAG.END_STREAM, 3, lpm(jsonBytes({}))),
    );
    await c.sync();
    await turns();
    expect(state.countCalls).toBe(0);
    expect(cb.settled).toBe(false);
    state.slowRelease.resolve({ done: 1 });
    const r = await c.response(1);
    expect(r.blocks.at(-1)!['grpc-status']).toBe('0');
    expect(JSON.parse(parseMessages(r.body)[0]!.payload.toString())).toEqual({ done: 1 });
    await within(cb.promise, 10_000, 'the tryShutdown callback');
    await within(c.closed.promise, 10_000, 'the server to close the connection');
    expect(state.countCalls).toBe(0);
  });

  it('tryShutdown called twice calls both callbacks back', async () => {
    const client = newClient();
    const { result } = unary(client, 'Slow', {});
    await within(state.slowEntered.promise, 10_000, 'the Slow handler');
    const first = new Deferred();
    const second = new Deferred();
    lean.tryShutdown(() => first.resolve());
    lean.tryShutdown(() => second.resolve());
    state.slowRelease.resolve({ ok: true });
    await expect(result).resolves.toEqual({ ok: true });
    await within(Promise.all([first.promise, second.promise]), 10_000, 'both tryShutdown callbacks');
  });

  it('tryShutdown calls back once the server ended the open bidi streams (the coordinator ends watches first)', async () => {
    state.chatStayOpen = true;
    const client = newClient();
    const bidi = client.makeBidiStreamRequest(path('Chat'), json.serialize, json.deserialize, new grpc.Metadata(), { deadline: Date.now() + DEADLINE_MS });
    const done = collect(bidi);
    bidi.write({ n: 1 });
    const call = await within(state.chatFirstData.promise, 10_000, 'the first message at the server');
    call.end();
    const cb = new Deferred();
    lean.tryShutdown(() => cb.resolve());
    await within(cb.promise, 10_000, 'the tryShutdown callback');
    const { status: st } = await within(done, 10_000, 'the bidi call to end');
    expect(st.code).toBe(grpc.status.OK);
  });

  it('forceShutdown fails an in-flight call with UNAVAILABLE or CANCELLED and cancels it on the server', async () => {
    const client = newClient();
    const { result } = unary(client, 'Slow', {});
    await within(state.slowEntered.promise, 10_000, 'the Slow handler');
    lean.forceShutdown();
    const err = (await within(
      result.then(
        () => null,
        (e: grpc.ServiceError) => e,
      ),
      10_000,
      'the call to fail',
    )) as grpc.ServiceError | null;
    expect(err).not.toBeNull();
    expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]).toContain(err!.code);
    await within(state.slowCancelled.promise, 10_000, "the server call's 'cancelled' event");
    // The handler answering afterwards must not throw.
    state.slowRelease.resolve({ late: true });
    await turns();
    expect(state.handlerErrors).toEqual([]);
  });
});
