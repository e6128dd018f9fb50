// The outbound half of a peer connection: one long-lived TCP connection carrying this node's
// messages to one peer. Messages queue (bounded) and are written as one batch at the end of
// the operation that queued them, or at once when the caller flushes (the Raft host does after
// each Ready). Raft tolerates loss, so a full queue drops and reports the
// peer unreachable rather than buffering without bound. Messages queue only while the connection is up or being set up:
// when it is lost they are dropped, as is whatever arrives during the reconnect backoff, so a
// returning peer gets current messages (a probe, a snapshot) rather than a burst of stale ones.
import { connect, type Socket } from 'node:net';
import type { Message, NodeId } from '../types.js';
import { ByteWriter } from './bytes.js';
import { writeMessage } from './codec.js';
import { FrameDecoder, writeFrame } from './frame.js';
import { PROTOCOL_VERSION, readAck, writeHello } from './handshake.js';

export interface PeerAddress {
  host: string;
  port: number;
}

export interface LinkConfig {
  clusterId: string;
  self: NodeId;
  maxQueuedMessages: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  onUnreachable: (peer: NodeId) => void;
  onError: (peer: NodeId, message: string) => void;
}

export interface LinkStats {
  connected: boolean;
  /** Messages handed to the socket. */
  sent: number;
  /** Socket writes; sent / writes is the batching factor. */
  writes: number;
  /** Messages dropped: queue full, connection lost, or sent during the reconnect backoff. */
  dropped: number;
  queued: number;
  /** Successful handshakes. */
  connects: number;
  lastError: string | null;
}

export class PeerLink {
  private queue: Message[] = [];
  private socket: Socket | null = null;
  private ready = false;
  private flushScheduled = false;
  private unreachableReported = false;
  private backoffMs: number;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly counters = { sent: 0, writes: 0, dropped: 0, connects: 0 };
  private lastError: string | null = null;

  constructor(
    readonly peer: NodeId,
    readonly address: PeerAddress,
    private readonly cfg: LinkConfig,
  ) {
    this.backoffMs = cfg.reconnectInitialMs;
    this.dial();
  }

  send(m: Message): void {
    if (this.enqueue(m)) this.schedule();
  }

  /**
   * Queues `m` without scheduling a write: the caller calls flush() once it has queued
   * everything it has for this peer now. False if it was dropped.
   */
  enqueue(m: Message): boolean {
    if (this.closed) return false;
    if (this.timer !== null || this.queue.length >= this.cfg.maxQueuedMessages) {
      this.counters.dropped++;
      this.reportUnreachable();
      return false;
    }
    this.queue.push(m);
    return true;
  }

  /** Whether the connection is up (handshake done). */
  get connected(): boolean {
    return this.ready;
  }

  stats(): LinkStats {
    return { ...this.counters, connected: this.ready, queued: this.queue.length, lastError: this.lastError };
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.destroy();
    this.queue = [];
  }

  private fail(message: string): void {
    this.lastError = message;
    this.cfg.onError(this.peer, message);
  }

  private reportUnreachable(): void {
    if (this.unreachableReported) return;
    this.unreachableReported = true;
    this.cfg.onUnreachable(this.peer);
  }

  private schedule(): void {
    if (!this.ready || this.flushScheduled) return;
    this.flushScheduled = true;
    // At the end of the current operation, not the next event-loop turn: everything one Ready
    // (or one chain of Readys handled in microtasks) sends still goes in one write, and the
    // message leaves before the leader's own WAL write starts (also deferred with nextTick).
    process.nextTick(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes everything queued now, in one write (unless the connection is down or backed up). */
  flush(): void {
    const socket = this.socket;
    // While the kernel buffer is full, messages wait in the bounded queue; 'drain' resumes.
    if (!this.ready || socket === null || socket.writableNeedDrain || this.queue.length === 0) return;
    // Sized for this batch: a fixed large buffer per write (one or two small messages at low
    // load) is external memory that drives the GC far more than the bytes sent.
    const w = new ByteWriter(batchBytes(this.queue));
    for (const m of this.queue) writeFrame(w, (fw) => writeMessage(fw, m));
    this.counters.sent += this.queue.length;
    this.counters.writes++;
    this.queue = [];
    this.unreachableReported = false;
    socket.write(w.finish());
  }

  private dial(): void {
    const socket = connect({ host: this.address.host, port: this.address.port });
    this.socket = socket;
    socket.setNoDelay(true);
    const decoder = new FrameDecoder(64 * 1024);
    socket.once('connect', () => {
      const w = new ByteWriter();
      writeFrame(w, (fw) =>
        writeHello(fw, { version: PROTOCOL_VERSION, clusterId: this.cfg.clusterId, from: this.cfg.self, to: this.peer }),
      );
      socket.write(w.finish());
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (frame) => {
          if (this.ready) throw new Error('unexpected frame from peer after handshake');
          const ack = readAck(frame);
          if (!ack.ok) throw new Error(`refused by peer: ${ack.reason}`);
          this.ready = true;
          this.counters.connects++;
          this.backoffMs = this.cfg.reconnectInitialMs;
          this.lastError = null;
          this.schedule();
        });
      } catch (err) {
        this.fail((err as Error).message);
        socket.destroy();
      }
    });
    socket.on('drain', () => this.flush());
    socket.on('error', (err) => this.fail(err.message));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      this.ready = false;
      if (this.closed) return;
      this.counters.dropped += this.queue.length;
      this.queue = [];
      this.reportUnreachable();
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.closed) this.dial();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, this.cfg.reconnectMaxMs);
    });
  }
}

/** An upper estimate of the encoded size of `messages` (the writer grows if it is short). */
function batchBytes(messages: readonly Message[]): number {
  let bytes = 0;
  for (const m of messages) {
    bytes += 96 + (m.context?.length ?? 0) + (m.snapshot?.data.length ?? 0);
    for (const e of m.entries) bytes += 32 + e.data.length;
  }
  return bytes;
}
