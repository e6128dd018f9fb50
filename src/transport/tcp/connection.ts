// One client connection: many calls in flight at once, matched to responses by frame id.
//
// The one distinction that decides retry safety is tracked per call: `written` turns true when
// the call's bytes are handed to the socket. A call lost before that never left this process and
// fails retryable; after that it may have run and fails with `maybeExecuted: true`.
import net from 'node:net';
import type { ShoalError } from '../../errors/index.js';
import {
  backpressure,
  callTimedOut,
  clientClosed,
  connectionFailed,
  connectionLost,
  messageTooLarge,
  protocolError,
} from '../errors.js';
import type { CallMeta } from '../types.js';
import { PROTOCOL_VERSION, packEvent, packRequest, unpackBody, unpackError, unpackHello } from './codec.js';
import { FrameDecoder, FrameType, MAX_ID, PREFACE, frameHeader, type FrameSink } from './frame.js';
import { FrameWriter } from './writer.js';

export interface ConnectionLimits {
  /** Largest frame body this side sends or accepts. */
  maxFrameBytes: number;
  /** Calls pending (queued or awaiting a response) beyond which new calls are refused. */
  maxPending: number;
  /** Unsent bytes beyond which new calls are refused. */
  maxBufferedBytes: number;
  connectTimeoutMs: number;
  /** Idle time after which a ping is sent; twice this with nothing received closes the connection. */
  pingIntervalMs: number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export type ConnectionState = 'connecting' | 'open' | 'goaway' | 'closed';

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  written: boolean;
}

export class ClientConnection implements FrameSink {
  state: ConnectionState = 'connecting';
  /** Id of the serving instance, from its HELLO. */
  instance: string | undefined;
  private readonly socket: net.Socket;
  private readonly writer: FrameWriter;
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, PendingCall>();
  /** Calls queued in the writer and not yet handed to the socket. */
  private unsent: PendingCall[] = [];
  private nextId = 0;
  private peerMaxFrameBytes: number;
  private everOpened = false;
  private lastReceivedAt = performance.now();
  private readonly heartbeat: NodeJS.Timeout;
  private connectTimer: NodeJS.Timeout | undefined;
  private closeReason: ShoalError | undefined;

  constructor(
    readonly endpoint: string,
    host: string,
    port: number,
    private readonly limits: ConnectionLimits,
    /** Told once, when the connection is gone for good; `opened` says whether it ever connected. */
    private readonly onClosed: (conn: ClientConnection, opened: boolean) => void,
  ) {
    this.peerMaxFrameBytes = limits.maxFrameBytes;
    this.socket = net.connect({ host, port, noDelay: true });
    this.writer = new FrameWriter(this.socket, this.markUnsentWritten);
    this.decoder = new FrameDecoder(limits.maxFrameBytes, this);
    this.writer.enqueue(PREFACE);
    this.connectTimer = setTimeout(() => {
      this.destroy(connectionFailed(endpoint, `connect timed out after ${limits.connectTimeoutMs} ms`));
    }, limits.connectTimeoutMs);
    this.socket.once('connect', () => {
      clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      this.everOpened = true;
      if (this.state === 'connecting') this.state = 'open';
      this.writer.markOpen();
    });
    this.socket.on('data', (chunk: Buffer) => {
      this.lastReceivedAt = performance.now();
      try {
        this.decoder.push(chunk);
      } catch (err) {
        this.destroy(undefined, `bad frame from server: ${(err as Error).message}`);
      }
    });
    this.socket.on('error', (err) => this.destroy(undefined, err.message));
    this.socket.on('close', () => this.destroy(undefined, 'closed by peer'));
    this.heartbeat = setInterval(() => this.checkAlive(), limits.pingIntervalMs).unref();
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Accepts calls: connected or still connecting, and not told to go away. */
  get usable(): boolean {
    return this.state === 'open' || this.state === 'connecting';
  }

  call(action: string, params: unknown, meta: CallMeta | null, timeoutMs: number): Promise<unknown> {
    if (this.pending.size >= this.limits.maxPending) {
      return Promise.reject(backpressure(this.where(), `${this.pending.size} calls pending`));
    }
    if (this.writer.pendingBytes >= this.limits.maxBufferedBytes) {
      return Promise.reject(backpressure(this.where(), `${this.writer.pendingBytes} bytes unsent`));
    }
    const body = packRequest(action, params, meta);
    const limit = Math.min(this.limits.maxFrameBytes, this.peerMaxFrameBytes);
    if (body.length > limit) {
      return Promise.reject(messageTooLarge(`request for ${action}`, body.length, limit, false, this.instance));
    }
    const id = this.allocateId();
    return new Promise((resolve, reject) => {
      const call: PendingCall = { resolve, reject, timer: undefined, written: false };
      // Past 2^31-1 ms Node fires a timer after 1 ms instead; such a budget is as good as none.
      if (timeoutMs <= MAX_TIMER_MS) {
        call.timer = setTimeout(() => {
          if (this.pending.get(id) !== call) return;
          this.pending.delete(id);
          reject(callTimedOut(this.where(), timeoutMs, call.written));
          this.endIfGoneAway();
        }, timeoutMs);
      }
      this.pending.set(id, call);
      this.unsent.push(call);
      this.writer.enqueue(frameHeader(FrameType.REQUEST, id, body.length), body);
    });
  }

  /** Queues an event; at most once: lost if the connection drops before it is read. */
  emit(event: string, payload: unknown, meta: CallMeta | null): void {
    const body = packEvent(event, payload, meta);
    const limit = Math.min(this.limits.maxFrameBytes, this.peerMaxFrameBytes);
    if (body.length > limit) throw messageTooLarge(`event ${event}`, body.length, limit, false, this.instance);
    this.writer.enqueue(frameHeader(FrameType.EVENT, 0, body.length), body);
  }

  // FrameSink: frames from the server.
  frame(type: number, id: number, body: Buffer): void {
    switch (type) {
      case FrameType.RESPONSE_OK:
      case FrameType.RESPONSE_ERROR: {
        const call = this.pending.get(id);
        if (call === undefined) return; // timed out already: the late answer has no one to go to
        this.pending.delete(id);
        if (call.timer !== undefined) clearTimeout(call.timer);
        try {
          if (type === FrameType.RESPONSE_OK) call.resolve(unpackBody(body));
          else {
            const error = unpackError(body);
            call.reject(error.instance === undefined && this.instance !== undefined ? error.withInstance(this.instance) : error);
          }
        } catch (err) {
          call.reject(messageUndecodable(this.where(), err));
        }
        this.endIfGoneAway();
        return;
      }
      case FrameType.HELLO: {
        const hello = unpackHello(body);
        if (hello.protocol !== PROTOCOL_VERSION) {
          this.destroy(undefined, `server speaks protocol ${hello.protocol}, this client ${PROTOCOL_VERSION}`);
          return;
        }
        this.instance = hello.instance;
        this.peerMaxFrameBytes = hello.maxFrameBytes;
        return;
      }
      case FrameType.PING:
        this.writer.enqueue(frameHeader(FrameType.PONG, id, 0));
        return;
      case FrameType.PONG:
        return; // receiving it refreshed lastReceivedAt, which is all a pong is for
      case FrameType.GOAWAY:
        if (this.state === 'open' || this.state === 'connecting') this.state = 'goaway';
        this.endIfGoneAway();
        return;
      default:
        this.destroy(undefined, `unexpected frame type ${type}`);
    }
  }

  oversized(type: number, id: number, bodyBytes: number): void {
    const call = this.pending.get(id);
    if (call === undefined || (type !== FrameType.RESPONSE_OK && type !== FrameType.RESPONSE_ERROR)) return;
    this.pending.delete(id);
    if (call.timer !== undefined) clearTimeout(call.timer);
    // The server ran the action; only its answer is too big to take.
    call.reject(messageTooLarge('response', bodyBytes, this.limits.maxFrameBytes, true, this.instance));
    this.endIfGoneAway();
  }

  /** Closes the connection, failing every pending call with `reason` or a lost-connection error. */
  destroy(reason?: ShoalError, message = 'closed'): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.closeReason = reason;
    clearInterval(this.heartbeat);
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.writer.discard();
    this.socket.destroy();
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.unsent = [];
    for (const call of pending) {
      if (call.timer !== undefined) clearTimeout(call.timer);
      call.reject(this.failureFor(call, message));
    }
    this.onClosed(this, this.everOpened);
  }

  /** Closing the client: pending calls fail with CLIENT_CLOSED. */
  close(): void {
    if (this.state === 'closed') return;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const call of pending) {
      if (call.timer !== undefined) clearTimeout(call.timer);
      call.reject(clientClosed(this.endpoint, call.written));
    }
    this.destroy(undefined, 'client closed');
  }

  private failureFor(call: PendingCall, message: string): ShoalError {
    if (this.closeReason !== undefined && !call.written) return this.closeReason;
    if (!this.everOpened && !call.written) return connectionFailed(this.endpoint, message);
    return connectionLost(this.where(), call.written, message);
  }

  private readonly markUnsentWritten = (): void => {
    for (const call of this.unsent) call.written = true;
    this.unsent = [];
  };

  /** After GOAWAY the server waits for our FIN, sent once our last call is answered. */
  private endIfGoneAway(): void {
    if (this.state === 'goaway' && this.pending.size === 0) {
      this.writer.flush();
      this.socket.end();
    }
  }

  private checkAlive(): void {
    if (this.state !== 'open' && this.state !== 'goaway') return;
    const idle = performance.now() - this.lastReceivedAt;
    if (idle >= 2 * this.limits.pingIntervalMs) {
      this.destroy(undefined, `no answer to ping for ${Math.round(idle)} ms`);
    } else if (idle >= this.limits.pingIntervalMs) {
      this.writer.enqueue(frameHeader(FrameType.PING, 0, 0));
    }
  }

  private allocateId(): number {
    // Ids wrap at 2^32; skipping ones still pending keeps them unique on the connection.
    do {
      this.nextId = this.nextId === MAX_ID ? 1 : this.nextId + 1;
    } while (this.pending.has(this.nextId));
    return this.nextId;
  }

  private where(): { endpoint: string; instance: string | undefined } {
    return { endpoint: this.endpoint, instance: this.instance };
  }
}

function messageUndecodable(where: { endpoint: string; instance: string | undefined }, err: unknown): ShoalError {
  return protocolError(where, `undecodable response: ${err instanceof Error ? err.message : String(err)}`, true);
}
