// The TCP server: reads request frames, runs the handler, answers with the frame id. Draining
// stops the listener, tells every client GOAWAY, answers what already arrived, and closes each
// connection once the client has sent its last request (its FIN) and the last answer is out.
import net from 'node:net';
import { ErrorCode, ShoalError, toShoalError } from '../../errors/index.js';
import { backpressure, deadlineSpent, draining, messageTooLarge } from '../errors.js';
import type { ActionHandler, DrainReport, EventHandler, ListeningServer } from '../types.js';
import { PROTOCOL_VERSION, packBody, packError, packHello, unpackMessage, type DecodedMessage } from './codec.js';
import { FrameDecoder, FrameType, PREFACE, encodeFrame, frameHeader, type FrameSink } from './frame.js';
import { TCP_DEFAULTS, TCP_SCHEME } from './client.js';
import { FrameWriter } from './writer.js';

export interface TcpServerOptions {
  instanceId: string;
  handler: ActionHandler;
  onEvent?: EventHandler;
  /** Errors no caller can receive (a throwing event handler, a broken connection). */
  onError?: (error: unknown) => void;
  host?: string;
  port?: number;
  maxFrameBytes?: number;
  /** Requests running at once per connection beyond which new ones are refused (retryable). */
  maxInFlightPerConnection?: number;
}

interface DrainCounters {
  answered: number;
  refused: number;
}

class ServerConnection implements FrameSink {
  inFlight = 0;
  private prefaceSeen = 0;
  private readonly decoder: FrameDecoder;
  private readonly writer: FrameWriter;
  private draining = false;
  private peerEnded = false;
  private readingPaused = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: Required<Pick<TcpServerOptions, 'instanceId' | 'handler' | 'maxFrameBytes' | 'maxInFlightPerConnection'>> &
      Pick<TcpServerOptions, 'onEvent' | 'onError'>,
    private readonly counters: DrainCounters,
  ) {
    socket.setNoDelay(true);
    this.decoder = new FrameDecoder(options.maxFrameBytes, this);
    this.writer = new FrameWriter(socket, undefined, () => {
      // The client reads slower than we answer: stop reading requests until it catches up.
      if (this.readingPaused) return;
      this.readingPaused = true;
      socket.pause();
      socket.once('drain', () => {
        this.readingPaused = false;
        socket.resume();
      });
    });
    this.writer.markOpen();
    this.writer.enqueue(
      encodeFrame(FrameType.HELLO, 0, packHello({ protocol: PROTOCOL_VERSION, instance: options.instanceId, maxFrameBytes: options.maxFrameBytes })),
    );
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.peerEnded = true;
      this.endIfDone();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A client that closes with requests in flight resets the socket: routine, not worth a log.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') this.options.onError?.(err);
    });
  }

  beginDrain(): void {
    if (this.draining) return;
    this.draining = true;
    this.writer.enqueue(frameHeader(FrameType.GOAWAY, 0, 0));
    this.writer.flush();
  }

  destroy(): void {
    this.socket.destroy();
  }

  frame(type: number, id: number, body: Buffer): void {
    switch (type) {
      case FrameType.REQUEST:
        this.onRequest(id, body);
        return;
      case FrameType.EVENT:
        this.onEvent(body);
        return;
      case FrameType.PING:
        this.writer.enqueue(frameHeader(FrameType.PONG, id, 0));
        return;
      case FrameType.PONG:
        return;
      default:
        this.options.onError?.(new Error(`unexpected frame type ${type} from client; closing`));
        this.socket.destroy();
    }
  }

  oversized(type: number, id: number, bodyBytes: number): void {
    if (type !== FrameType.REQUEST) return;
    this.respondError(id, messageTooLarge('request', bodyBytes, this.options.maxFrameBytes, false, this.options.instanceId));
  }

  private onData(chunk: Buffer): void {
    if (this.prefaceSeen < PREFACE.length) {
      // The preface may itself arrive split; compare byte by byte as it comes.
      let i = 0;
      while (i < chunk.length && this.prefaceSeen < PREFACE.length) {
        if (chunk[i] !== PREFACE[this.prefaceSeen]) {
          this.options.onError?.(new Error('connection without the shoal preface; closing'));
          this.socket.destroy();
          return;
        }
        i++;
        this.prefaceSeen++;
      }
      chunk = chunk.subarray(i);
    }
    try {
      this.decoder.push(chunk);
    } catch (err) {
      this.options.onError?.(err);
      this.socket.destroy();
    }
  }

  private onRequest(id: number, body: Buffer): void {
    if (this.draining) {
      this.counters.refused++;
      this.respondError(id, draining(this.options.instanceId));
      return;
    }
    if (this.inFlight >= this.options.maxInFlightPerConnection) {
      this.respondError(id, backpressure({ endpoint: 'server', instance: this.options.instanceId }, `${this.inFlight} requests running`));
      return;
    }
    let msg: DecodedMessage;
    try {
      msg = unpackMessage(body);
    } catch (err) {
      this.respondError(id, new ShoalError({ code: ErrorCode.INVALID_ARGUMENT, message: `undecodable request: ${(err as Error).message}`, retryable: false }));
      return;
    }
    const budget = msg.meta.deadlineMs;
    if (budget !== undefined && !(typeof budget === 'number' && budget > 0)) {
      this.respondError(id, deadlineSpent(`action ${msg.name}`));
      return;
    }
    this.inFlight++;
    let result: unknown;
    try {
      result = this.options.handler(msg.name, msg.params, msg.meta);
    } catch (err) {
      this.settled(id, err, false);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.settled(id, value, true),
        (err) => this.settled(id, err, false),
      );
    } else {
      this.settled(id, result, true);
    }
  }

  private settled(id: number, value: unknown, ok: boolean): void {
    this.inFlight--;
    if (this.draining) this.counters.answered++;
    if (this.socket.destroyed) return;
    if (ok) this.respondOk(id, value);
    else this.respondError(id, value);
    this.endIfDone();
  }

  private respondOk(id: number, value: unknown): void {
    let body: Buffer;
    try {
      body = packBody(value);
    } catch (err) {
      this.respondError(id, new ShoalError({ code: ErrorCode.INTERNAL, message: `result not serializable: ${(err as Error).message}`, retryable: false }));
      return;
    }
    if (body.length > this.options.maxFrameBytes) {
      this.respondError(id, messageTooLarge('response', body.length, this.options.maxFrameBytes, true));
      return;
    }
    this.writer.enqueue(frameHeader(FrameType.RESPONSE_OK, id, body.length), body);
  }

  private respondError(id: number, err: unknown): void {
    let error = toShoalError(err, this.options.instanceId);
    if (error.instance === undefined) error = error.withInstance(this.options.instanceId);
    const body = packError(error);
    this.writer.enqueue(frameHeader(FrameType.RESPONSE_ERROR, id, body.length), body);
  }

  private onEvent(body: Buffer): void {
    if (this.options.onEvent === undefined) return;
    try {
      const msg = unpackMessage(body);
      this.options.onEvent(msg.name, msg.params, msg.meta);
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  /** Closes our side once the client sent its last request and every answer is written. */
  private endIfDone(): void {
    if (this.peerEnded && this.inFlight === 0 && !this.socket.destroyed) {
      this.writer.flush();
      this.socket.end();
    }
  }
}

interface ServerState {
  readonly connections: Set<ServerConnection>;
  readonly sockets: Set<net.Socket>;
  readonly counters: DrainCounters;
  isDraining: boolean;
}

export class TcpServer implements ListeningServer {
  readonly url: string;
  private draining: Promise<DrainReport> | undefined;

  private constructor(
    private readonly server: net.Server,
    private readonly state: ServerState,
    host: string,
    port: number,
  ) {
    this.url = `${TCP_SCHEME}//${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  static async listen(options: TcpServerOptions): Promise<TcpServer> {
    const resolved = {
      instanceId: options.instanceId,
      handler: options.handler,
      onEvent: options.onEvent,
      onError: options.onError,
      maxFrameBytes: options.maxFrameBytes ?? TCP_DEFAULTS.maxFrameBytes,
      maxInFlightPerConnection: options.maxInFlightPerConnection ?? 10_000,
    };
    const state: ServerState = { connections: new Set(), sockets: new Set(), counters: { answered: 0, refused: 0 }, isDraining: false };
    // allowHalfOpen: after the client's FIN we still owe it the answers to what it sent.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      const conn = new ServerConnection(socket, resolved, state.counters);
      state.sockets.add(socket);
      state.connections.add(conn);
      socket.on('close', () => {
        state.sockets.delete(socket);
        state.connections.delete(conn);
      });
      if (state.isDraining) conn.beginDrain();
    });
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('tcp server: no address after listen');
    return new TcpServer(server, state, host, address.port);
  }

  drain(options: { timeoutMs?: number } = {}): Promise<DrainReport> {
    this.draining ??= this.runDrain(options.timeoutMs ?? 30_000);
    return this.draining;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.state.sockets) socket.destroy();
    await closed;
  }

  private async runDrain(timeoutMs: number): Promise<DrainReport> {
    this.state.isDraining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of this.state.connections) conn.beginDrain();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([closed.then(() => 'closed' as const), timedOut]);
    clearTimeout(timer);
    let abandoned = 0;
    if (outcome === 'timeout') {
      for (const conn of this.state.connections) {
        abandoned += conn.inFlight;
        conn.destroy();
      }
      await closed;
    }
    return { answered: this.state.counters.answered, refused: this.state.counters.refused, abandoned };
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
