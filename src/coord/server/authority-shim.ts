// Accepts client connections for the gRPC server and makes one etcd client quirk acceptable:
// etcd 3.4's Go client sends the whole endpoint URL as the HTTP/2 `:authority`
// ("http://127.0.0.1:2379") on its per-endpoint calls (etcdctl endpoint status / hashkv). Node's
// HTTP/2 (nghttp2) resets such a stream with PROTOCOL_ERROR before gRPC sees it, and offers no
// switch to allow it. So each connection's first header block is looked at here first:
//   - no scheme in `:authority` (every other client): the bytes read so far are put back and
//     the socket itself goes to the gRPC server — nothing sits between them afterwards;
//   - a scheme: the connection goes through an AuthorityRewriter for its lifetime, which strips
//     the scheme from every header block the client sends (h2-frames.ts).
// Go's client sends no request before the server's SETTINGS frame, so an empty SETTINGS frame
// (all defaults) is sent at once to get the first request; its acknowledgement is removed from
// what the gRPC server receives (it never sent that frame). The server's own SETTINGS follow as
// usual; the client takes both.
import type * as net from 'node:net';
import { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  BlockDecoder,
  EMPTY_SETTINGS,
  FrameSplitter,
  HeaderBlockCollector,
  HeaderRewriter,
  isSettingsAck,
  PREFACE,
  type HeaderField,
} from './h2-frames.js';

/** How long a connection may take to show its first request before it is handed on unexamined. */
const SNIFF_TIMEOUT_MS = 5000;
/** Bytes held while looking; beyond this the connection is rewritten rather than held. */
const SNIFF_LIMIT_BYTES = 1 << 20;

/** The authority without its scheme ("http://h:p/" -> "h:p"), or null when there is none. */
export function strippedAuthority(value: string): string | null {
  const at = value.indexOf('://');
  if (at < 0) return null;
  const rest = value.slice(at + 3);
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(0, slash);
}

export interface ShimStats {
  /** Connections handed over as raw sockets. */
  direct: number;
  /** Connections rewritten for their lifetime. */
  rewritten: number;
}

/**
 * Takes a freshly accepted socket and, once it has decided, passes `inject` either the socket
 * itself or a rewriting wrapper. `stats` counts the two outcomes.
 */
export function acceptWithAuthorityShim(
  socket: net.Socket,
  inject: (connection: Duplex) => void,
  log: Logger,
  stats: ShimStats = { direct: 0, rewritten: 0 },
): void {
  const splitter = new FrameSplitter();
  const collector = new HeaderBlockCollector();
  const decoder = new BlockDecoder();
  const held: Buffer[] = [];
  let heldBytes = 0;
  let ackSeen = false;
  /** Whether the first request carries a scheme in its authority; undefined until it is seen. */
  let scheme: boolean | undefined;
  let decided = false;

  const finish = (rewrite: boolean) => {
    if (decided) return;
    decided = true;
    clearTimeout(timer);
    socket.pause();
    socket.removeListener('data', onData);
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
    const bytes = Buffer.concat(held);
    if (rewrite) {
      stats.rewritten++;
      // The rewriter reads the connection from its first byte, with its own HPACK decoder.
      inject(new AuthorityRewriter(socket, bytes, log));
      return;
    }
    stats.direct++;
    // Everything read so far goes back, less the acknowledgement of our SETTINGS frame.
    const back = ackSeen ? withoutFirstSettingsAck(bytes) : bytes;
    if (back.length > 0) socket.unshift(back);
    inject(socket);
  };

  const onData = (chunk: Buffer) => {
    held.push(chunk);
    heldBytes += chunk.length;
    try {
      for (const item of splitter.push(chunk)) {
        if (item === 'preface') continue;
        if (isSettingsAck(item) && !ackSeen) {
          ackSeen = true;
          continue;
        }
        if (scheme !== undefined) continue;
        const got = collector.take(item);
        if (got === null || !('block' in got)) continue;
        const authority = decoder.decode(got.block).find((h) => h.name === ':authority');
        scheme = authority !== undefined && strippedAuthority(authority.value) !== null;
      }
    } catch {
      // Not HTTP/2 as understood here (e.g. a malformed header block): the server judges it.
      return finish(false);
    }
    if (splitter.notHttp2) return finish(false);
    if (scheme === true) return finish(true);
    if (scheme === false && ackSeen) return finish(false);
    if (heldBytes > SNIFF_LIMIT_BYTES) finish(true);
  };
  const onError = () => socket.destroy();
  const onClose = () => {
    decided = true;
    clearTimeout(timer);
  };
  // A connection that sends no request for a while is handed on: as itself once it has
  // acknowledged our SETTINGS, else through the rewriter (which removes the acknowledgement).
  const timer = setTimeout(() => finish(!ackSeen), SNIFF_TIMEOUT_MS);
  timer.unref();

  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.write(EMPTY_SETTINGS);
}

function withoutFirstSettingsAck(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let dropped = false;
  const splitter = new FrameSplitter();
  for (const item of splitter.push(bytes)) {
    if (item === 'preface') parts.push(PREFACE);
    else if (!dropped && isSettingsAck(item)) dropped = true;
    else parts.push(item.raw);
  }
  parts.push(splitter.pending);
  return Buffer.concat(parts);
}

/**
 * The client's connection as the gRPC server sees it when the client puts a scheme in its
 * authority: client-to-server bytes have every header block rewritten without the scheme, and
 * the first SETTINGS acknowledgement (of the shim's SETTINGS) removed; server-to-client bytes
 * pass as they are. `firstBytes`: what the shim read, from the connection's first byte.
 */
export class AuthorityRewriter extends Duplex {
  private readonly rewriter: HeaderRewriter;

  constructor(
    private readonly socket: net.Socket,
    firstBytes: Buffer,
    log: Logger,
  ) {
    super({ allowHalfOpen: true });
    this.rewriter = new HeaderRewriter(stripAuthorityScheme, true, (err) =>
      log.debug({ err }, 'coord: undecodable header block; passing the connection through'),
    );
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(this.rewriter.push(chunk))) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
    if (firstBytes.length > 0) this.push(this.rewriter.push(firstBytes));
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }

  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.socket.setKeepAlive(enable, delay);
    return this;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.socket.write(chunk)) done();
    else this.socket.once('drain', () => done());
  }

  override _final(done: (err?: Error | null) => void): void {
    this.socket.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.socket.destroy();
    done(err);
  }
}

/** Removes the scheme from the `:authority` header, if it has one. */
export function stripAuthorityScheme(headers: HeaderField[]): void {
  for (const h of headers) {
    if (h.name !== ':authority') continue;
    const stripped = strippedAuthority(h.value);
    if (stripped !== null) h.value = stripped;
  }
}
