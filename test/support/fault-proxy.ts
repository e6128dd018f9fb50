// Fault-injecting TCP proxies between cluster members (node:net, 127.0.0.1 only).
//
// A `LinkProxy` listens on a loopback port and forwards every connection to one member's real
// peer port. Each connection belongs to a link `from → to`; the link's mode decides what happens
// to it: pass, drop (new connections are closed at once and existing ones are cut: a partition),
// or delay (every chunk, both ways, is held back for `ms`, order kept). A single proxy can also
// be used alone (no PeerNetwork: every link passes unless `modeOf` says otherwise), and can make
// its open connections one-way with `loseReplies()` (requests arrive, replies are lost).
//
// Two routings, chosen by what the member process can be told:
//
//   per-pair         one proxy per ordered pair i→j; member i dials j through its own proxy, so
//                    the source of every connection is known. Needs a member that accepts a
//                    different address for each peer (Shoal: `--peer-proxy-map`, see cluster.ts).
//                    Shoal's Raft transport carries only i's messages on the connection i dials,
//                    so cutting i→j alone is a true one-way (asymmetric) partition.
//
//   per-destination  one proxy per member j, advertised as j's peer URL, shared by every member
//                    (etcd: the peer URLs in --initial-cluster are the same for all members).
//                    The proxy alone only knows the destination, so it can only cut j's INBOUND
//                    connections, and for etcd that isolates nothing: etcd's rafthttp carries
//                    j→i messages on streams that i dials to j and i→j messages on streams that
//                    j dials to i (plus POSTs both ways), so with inbound cut both directions
//                    still flow through the connections j dials out. To cut real links, the
//                    proxy reads the source from the first HTTP request of a connection: every
//                    rafthttp request (stream GET, pipeline and snapshot POST) carries
//                    `X-Server-From: <member id hex>`. With that, partitions between groups of
//                    etcd members are exact. Asymmetric partitions are not: one etcd
//                    connection carries messages in both directions, so `from → to` names who
//                    dialed, not which messages are lost. Connections with no such header
//                    (version probes) are blocked when any link into their destination is.
import net from 'node:net';
import { LOOPBACK } from './ports.js';

export type LinkMode = { kind: 'pass' } | { kind: 'drop' } | { kind: 'delay'; ms: number };
export type Routing = 'per-pair' | 'per-destination';

const PASS: LinkMode = { kind: 'pass' };
/** How much of a connection's first bytes we read looking for the source before giving up. */
const SNIFF_LIMIT = 16 * 1024;

interface Conn {
  from: string | undefined;
  downstream: net.Socket;
  upstream: net.Socket | undefined;
  delayMs: number;
  /** Set by loseReplies(): bytes from `to` back to the dialer are dropped, requests still pass. */
  repliesLost: boolean;
  /** Chunks held back, per direction, in arrival order with the time each may go. */
  held: Map<net.Socket, { at: number; chunk: Buffer }[]>;
}

/** Finds the source member of a connection from its first bytes: a name, null (need more bytes) or undefined (unknown). */
export type SourceSniffer = (head: Buffer) => string | null | undefined;

export class LinkProxy {
  private server: net.Server | undefined;
  private readonly conns = new Set<Conn>();
  port = 0;

  constructor(
    readonly to: string,
    private readonly targetPort: number,
    /** Set for per-pair proxies; per-destination proxies sniff it. */
    readonly from: string | undefined,
    private readonly modeOf: (from: string | undefined, to: string) => LinkMode = () => PASS,
    private readonly sniff?: SourceSniffer,
  ) {}

  get url(): string {
    return `http://${LOOPBACK}:${this.port}`;
  }

  async start(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, LOOPBACK, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('LinkProxy: no TCP address');
    this.port = address.port;
  }

  /** Re-applies the link modes to open connections: cuts the ones whose link now drops. */
  enforce(): number {
    let cut = 0;
    for (const conn of this.conns) {
      const mode = this.modeOf(conn.from, this.to);
      if (mode.kind === 'drop') {
        this.destroy(conn);
        cut++;
      } else {
        conn.delayMs = mode.kind === 'delay' ? mode.ms : 0;
      }
    }
    return cut;
  }

  /**
   * From now on, the connections open at this moment deliver requests but lose every reply
   * ("applied, but the client never heard"). Connections opened later work normally, so a
   * client that reconnects and retries is served. Returns how many connections were affected.
   */
  loseReplies(): number {
    for (const conn of this.conns) conn.repliesLost = true;
    return this.conns.size;
  }

  /** Cuts every open connection; dialers must reconnect (e.g. the destination restarted: nothing may outlive it). */
  cutAll(): void {
    for (const conn of this.conns) this.destroy(conn);
  }

  async stop(): Promise<void> {
    this.cutAll();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(downstream: net.Socket): void {
    const conn: Conn = { from: this.from, downstream, upstream: undefined, delayMs: 0, repliesLost: false, held: new Map() };
    this.conns.add(conn);
    downstream.on('error', () => this.destroy(conn));
    downstream.on('close', () => this.destroy(conn));
    if (this.from !== undefined || !this.sniff) {
      this.open(conn, Buffer.alloc(0));
      return;
    }
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const source = this.sniff!(head);
      if (source === null && head.length < SNIFF_LIMIT) return;
      downstream.off('data', onData);
      conn.from = source ?? undefined;
      this.open(conn, head);
    };
    downstream.on('data', onData);
  }

  private open(conn: Conn, head: Buffer): void {
    const mode = this.modeOf(conn.from, this.to);
    if (mode.kind === 'drop') {
      this.destroy(conn);
      return;
    }
    conn.delayMs = mode.kind === 'delay' ? mode.ms : 0;
    const upstream = net.connect({ host: LOOPBACK, port: this.targetPort });
    conn.upstream = upstream;
    upstream.on('error', () => this.destroy(conn));
    upstream.on('close', () => this.destroy(conn));
    if (head.length > 0) this.forward(conn, upstream, head);
    conn.downstream.on('data', (chunk: Buffer) => this.forward(conn, upstream, chunk));
    upstream.on('data', (chunk: Buffer) => this.forward(conn, conn.downstream, chunk));
  }

  private forward(conn: Conn, to: net.Socket, chunk: Buffer): void {
    if (conn.repliesLost && to === conn.downstream) return;
    let queue = conn.held.get(to);
    if (conn.delayMs <= 0 && (queue === undefined || queue.length === 0)) {
      if (!to.destroyed) to.write(chunk);
      return;
    }
    // A chunk never overtakes one held before it, even when the delay shrinks meanwhile.
    if (!queue) conn.held.set(to, (queue = []));
    const last = queue.length > 0 ? queue[queue.length - 1]!.at : 0;
    queue.push({ at: Math.max(performance.now() + conn.delayMs, last), chunk });
    if (queue.length === 1) this.drain(conn, to, queue);
  }

  private drain(conn: Conn, to: net.Socket, queue: { at: number; chunk: Buffer }[]): void {
    const head = queue[0];
    if (!head) return;
    setTimeout(() => {
      queue.shift();
      const lost = conn.repliesLost && to === conn.downstream;
      if (!lost && !to.destroyed && this.conns.has(conn)) to.write(head.chunk);
      this.drain(conn, to, queue);
    }, Math.max(0, head.at - performance.now())).unref();
  }

  private destroy(conn: Conn): void {
    if (!this.conns.delete(conn)) return;
    conn.downstream.destroy();
    conn.upstream?.destroy();
  }
}

/** Reads `X-Server-From: <hex id>` from an etcd rafthttp request and maps the id to a member name. */
export function etcdSourceSniffer(idToName: () => ReadonlyMap<string, string>): SourceSniffer {
  return (head) => {
    const text = head.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    const match = /\r\nX-Server-From:\s*([0-9a-fA-F]+)\r\n/i.exec(end < 0 ? text : text.slice(0, end + 2));
    if (match) return idToName().get(match[1]!.toLowerCase());
    return end < 0 ? null : undefined;
  };
}

/**
 * The proxies of one cluster and the mode of every link between its members.
 * Link modes are data; `apply()` (called by every mutator) pushes them to open connections.
 */
export class PeerNetwork {
  private readonly modes = new Map<string, LinkMode>();
  private readonly proxies: LinkProxy[] = [];
  /** per-pair: `${from}>${to}`; per-destination: to. */
  private readonly byAddress = new Map<string, LinkProxy>();

  constructor(
    readonly routing: Routing,
    readonly names: readonly string[],
    private readonly sniff?: SourceSniffer,
  ) {
    if (new Set(names).size !== names.length) throw new Error('PeerNetwork: member names must be distinct');
  }

  /** One-way partitions are exact only where the source of a connection is known by construction. */
  get supportsAsymmetric(): boolean {
    return this.routing === 'per-pair';
  }

  /** Starts the proxies; `targets` maps each member to its real (listen) peer port. */
  async start(targets: ReadonlyMap<string, number>): Promise<void> {
    const modeOf = (from: string | undefined, to: string): LinkMode => this.modeOf(from, to);
    for (const to of this.names) {
      const port = targets.get(to);
      if (port === undefined) throw new Error(`PeerNetwork: no peer port for ${to}`);
      if (this.routing === 'per-destination') {
        this.add(to, new LinkProxy(to, port, undefined, modeOf, this.sniff));
      } else {
        for (const from of this.names) {
          if (from !== to) this.add(`${from}>${to}`, new LinkProxy(to, port, from, modeOf));
        }
      }
    }
    await Promise.all(this.proxies.map((p) => p.start()));
  }

  private add(address: string, proxy: LinkProxy): void {
    this.proxies.push(proxy);
    this.byAddress.set(address, proxy);
  }

  /** The URL member `from` must dial to reach `to` (per-destination: the same for every `from`). */
  urlFor(from: string | undefined, to: string): string {
    const proxy = this.routing === 'per-destination' ? this.byAddress.get(to) : this.byAddress.get(`${from}>${to}`);
    if (!proxy) throw new Error(`PeerNetwork: no proxy for ${from ?? '*'} → ${to}`);
    return proxy.url;
  }

  modeOf(from: string | undefined, to: string): LinkMode {
    if (from !== undefined) return this.modes.get(`${from}>${to}`) ?? PASS;
    // Unknown source: as bad as the worst link into `to`.
    let worst: LinkMode = PASS;
    for (const other of this.names) {
      if (other === to) continue;
      const m = this.modes.get(`${other}>${to}`) ?? PASS;
      if (m.kind === 'drop') return m;
      if (m.kind === 'delay' && (worst.kind !== 'delay' || m.ms > worst.ms)) worst = m;
    }
    return worst;
  }

  /** Sets one directed link. */
  setLink(from: string, to: string, mode: LinkMode): void {
    this.check(from);
    this.check(to);
    if (from === to) throw new Error('PeerNetwork: a member has no link to itself');
    if (mode.kind === 'pass') this.modes.delete(`${from}>${to}`);
    else this.modes.set(`${from}>${to}`, mode);
    this.apply();
  }

  /** Members in different groups cannot reach each other (both directions); members in no group are cut from all. */
  partition(groups: readonly (readonly string[])[]): void {
    const groupOf = new Map<string, number>();
    groups.forEach((g, i) => g.forEach((name) => { this.check(name); groupOf.set(name, i); }));
    for (const a of this.names) {
      for (const b of this.names) {
        if (a === b) continue;
        const same = groupOf.has(a) && groupOf.get(a) === groupOf.get(b);
        if (same) this.modes.delete(`${a}>${b}`);
        else this.modes.set(`${a}>${b}`, { kind: 'drop' });
      }
    }
    this.apply();
  }

  /** Cuts `name` from every other member, both directions. */
  isolate(name: string): void {
    this.partition([[name], this.names.filter((n) => n !== name)]);
  }

  /** Cuts only the connections other members open to `name` (all a destination-only proxy can do). */
  isolateInbound(name: string): void {
    this.check(name);
    for (const from of this.names) if (from !== name) this.modes.set(`${from}>${name}`, { kind: 'drop' });
    this.apply();
  }

  /** Delays every link into and out of `name`. */
  slow(name: string, ms: number): void {
    this.check(name);
    for (const other of this.names) {
      if (other === name) continue;
      this.modes.set(`${other}>${name}`, { kind: 'delay', ms });
      this.modes.set(`${name}>${other}`, { kind: 'delay', ms });
    }
    this.apply();
  }

  heal(): void {
    this.modes.clear();
    this.apply();
  }

  /** Cuts every connection to `name` (call when it restarts so no stale connection survives). */
  resetMember(name: string): void {
    for (const p of this.proxies) if (p.to === name || p.from === name) p.cutAll();
  }

  /** The links not passing, e.g. "n1>n2 drop, n2>n1 drop". */
  describe(): string {
    const parts = [...this.modes.entries()].map(([link, m]) => `${link} ${m.kind === 'delay' ? `delay ${m.ms}ms` : m.kind}`);
    return parts.length === 0 ? 'all links pass' : parts.sort().join(', ');
  }

  async stop(): Promise<void> {
    await Promise.all(this.proxies.map((p) => p.stop()));
  }

  private apply(): void {
    for (const p of this.proxies) p.enforce();
  }

  private check(name: string): void {
    if (!this.names.includes(name)) throw new Error(`PeerNetwork: unknown member ${name}`);
  }
}
