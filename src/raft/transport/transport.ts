// TCP transport between Raft peers. Each node listens for inbound connections (which only
// carry messages to it) and dials one outbound PeerLink per peer (which only carries messages
// from it), so a pair of nodes shares two connections, one per direction.
import { createServer, type Server, type Socket } from 'node:net';
import { LOCAL_MESSAGE_TYPES, type Message, type NodeId } from '../types.js';
import { ByteWriter, CodecError } from './bytes.js';
import { decodeMessage } from './codec.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameDecoder, writeFrame } from './frame.js';
import { checkHello, readHello, writeAck, type Hello } from './handshake.js';
import { PeerLink, type LinkConfig, type LinkStats, type PeerAddress } from './link.js';

export interface TransportOptions {
  clusterId: string;
  nodeId: NodeId;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: an ephemeral port (read it back from `address`). */
  port?: number;
  peers?: ReadonlyMap<NodeId, PeerAddress>;
  /** Called for each message received from a peer, in order per peer. */
  onMessage: (m: Message) => void;
  /** A peer could not be reached or its queue overflowed (step an 'unreachable' message). */
  onUnreachable?: (peer: NodeId) => void;
  /** An outbound connection failed or was refused (for logs; it is retried with backoff). */
  onLinkError?: (peer: NodeId, message: string) => void;
  /** An inbound connection was refused at the handshake (for logs). */
  onRefused?: (reason: string) => void;
  /** Per-peer bound on messages waiting to be written. Default 4096. */
  maxQueuedMessages?: number;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  maxFrameBytes?: number;
}

export interface TransportStats {
  received: number;
  /** Messages to ids with no peer address. */
  droppedUnknownPeer: number;
  refusedConnections: number;
  peers: Map<NodeId, LinkStats>;
}

export class PeerTransport {
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<Socket>();
  private readonly counters = { received: 0, droppedUnknownPeer: 0, refusedConnections: 0 };
  private readonly linkConfig: LinkConfig;
  private closed = false;

  private constructor(
    private readonly opts: TransportOptions,
    private readonly server: Server,
  ) {
    this.linkConfig = {
      clusterId: opts.clusterId,
      self: opts.nodeId,
      maxQueuedMessages: opts.maxQueuedMessages ?? 4096,
      reconnectInitialMs: opts.reconnectInitialMs ?? 20,
      reconnectMaxMs: opts.reconnectMaxMs ?? 1000,
      onUnreachable: (peer) => this.opts.onUnreachable?.(peer),
      onError: (peer, message) => this.opts.onLinkError?.(peer, message),
    };
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts listening; peers given in options are dialed at once. */
  static async listen(opts: TransportOptions): Promise<PeerTransport> {
    const server = createServer();
    const t = new PeerTransport(opts, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    for (const [id, addr] of opts.peers ?? []) t.addPeer(id, addr);
    return t;
  }

  get address(): PeerAddress {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('transport: not listening on TCP');
    return { host: a.address, port: a.port };
  }

  /** Adds or re-addresses a peer. */
  addPeer(id: NodeId, address: PeerAddress): void {
    if (id === this.opts.nodeId) throw new Error(`transport: node ${id} cannot be its own peer`);
    const old = this.links.get(id);
    if (old !== undefined && old.address.host === address.host && old.address.port === address.port) return;
    old?.close();
    this.links.set(id, new PeerLink(id, address, this.linkConfig));
  }

  removePeer(id: NodeId): void {
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  /**
   * Queues messages; they are written in one batch per peer per event-loop turn. With `now`,
   * each peer's queue is written at once instead, in one write: for a caller that hands over
   * everything it has in one call (the Raft host, once per Ready), so nothing it does after
   * (its fsync, applying, answering clients) delays the messages.
   */
  send(messages: readonly Message[], now = false): void {
    if (this.closed) return;
    let touched: PeerLink[] | undefined;
    for (const m of messages) {
      if (LOCAL_MESSAGE_TYPES.has(m.type)) throw new Error(`transport: local message '${m.type}' cannot be sent`);
      const link = this.links.get(m.to);
      if (link === undefined) this.counters.droppedUnknownPeer++;
      else if (!now) link.send(m);
      else if (link.enqueue(m) && touched?.includes(link) !== true) (touched ??= []).push(link);
    }
    if (touched !== undefined) for (const link of touched) link.flush();
  }

  /** Whether the outbound connection to `id` is up (handshake done). */
  isConnected(id: NodeId): boolean {
    return this.links.get(id)?.connected ?? false;
  }

  stats(): TransportStats {
    const peers = new Map<NodeId, LinkStats>();
    for (const [id, link] of this.links) peers.set(id, link.stats());
    return { ...this.counters, peers };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    for (const socket of this.inbound) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.inbound.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.inbound.delete(socket));
    socket.on('error', () => socket.destroy());
    const decoder = new FrameDecoder(this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
    let hello: Hello | null = null;
    let refused = false;
    socket.on('data', (chunk: Buffer) => {
      if (refused) return;
      const messages: Message[] = [];
      try {
        decoder.push(chunk, (frame) => {
          if (refused) return;
          if (hello === null) {
            hello = this.handshake(socket, frame);
            refused = hello === null;
            return;
          }
          const m = decodeMessage(frame);
          if (m.from !== hello.from || m.to !== this.opts.nodeId) {
            throw new CodecError(`message ${m.from}->${m.to} on the connection from ${hello.from}`);
          }
          messages.push(m);
        });
      } catch {
        // A peer speaking garbage gets disconnected; it will redial and handshake afresh.
        socket.destroy();
      }
      // Delivered outside the decoder so a throwing handler is the host's error, not a codec one.
      this.counters.received += messages.length;
      for (const m of messages) this.opts.onMessage(m);
    });
  }

  /** Validates the hello frame and answers it; a refusal ends the connection (null). */
  private handshake(socket: Socket, frame: Buffer): Hello | null {
    const hello = readHello(frame);
    const refusal = checkHello(hello, this.opts.clusterId, this.opts.nodeId);
    const w = new ByteWriter();
    writeFrame(w, (fw) => writeAck(fw, refusal === null ? { ok: true } : { ok: false, reason: refusal }));
    if (refusal === null) {
      socket.write(w.finish());
      return hello;
    }
    this.counters.refusedConnections++;
    socket.end(w.finish());
    this.opts.onRefused?.(refusal);
    return null;
  }
}
