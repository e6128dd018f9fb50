// A small authoritative DNS server over UDP for the zone `shoal.`, answering from a ServiceView:
//
//   SRV  _<service>._tcp.shoal.   one per ready, not-ejected instance: target <id>.shoal., the
//                                  port of its first http(s)/tcp URL; the targets' A records in
//                                  the additional section; priority 10 for role=backup, else 0
//   A    <service>.shoal.          the IPv4 hosts of its ready instances' URLs
//   A    <id>.shoal.               the IPv4 hosts of that instance's URLs
//   SOA  shoal.
//
// A known name asked for another type gets NOERROR with no answers; an unknown name in the zone
// NXDOMAIN (both with the SOA, for negative caching); a name outside it REFUSED. Garbage never
// crashes the server: a packet shorter than a header is dropped, one that does not parse gets
// FORMERR, a non-QUERY opcode NOTIMP, several questions FORMERR, a response packet is ignored.
// An answer larger than the client's UDP size (512, or its EDNS size) is sent truncated (TC).
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import * as dns from 'dns-packet';
import type { Logger } from 'pino';
import type { InstanceRecord, ServiceView } from './types.js';

export interface DnsServerOptions {
  /** UDP port on `host`; 0 (default) picks a free one. */
  port?: number;
  /** Default 127.0.0.1: discovery's DNS is for processes on this machine. */
  host?: string;
  /** Zone, default `shoal`. */
  domain?: string;
  /** TTL of answers in seconds; short, since the view changes within a lease TTL. Default 1. */
  ttlSeconds?: number;
  logger?: Logger;
}

export interface DnsServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const OPCODE_QUERY = 0;
const UDP_DEFAULT = 512;
const UDP_MAX = 4096;
const FLAG_QR = 0x8000;

export async function createDnsServer(view: ServiceView, opts: DnsServerOptions = {}): Promise<DnsServer> {
  const host = opts.host ?? '127.0.0.1';
  const zone = normalize(opts.domain ?? 'shoal');
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(zone)) throw new TypeError(`createDnsServer: bad domain ${JSON.stringify(opts.domain)}`);
  const ttl = opts.ttlSeconds ?? 1;
  if (!Number.isInteger(ttl) || ttl < 0) throw new TypeError(`createDnsServer: ttlSeconds must be an integer >= 0, got ${ttl}`);
  const resolver = new ZoneResolver(view, zone, ttl);
  const socket = dgram.createSocket(isIPv4(host) ? 'udp4' : 'udp6');
  socket.on('message', (msg, rinfo) => {
    let reply: Buffer | undefined;
    try {
      reply = resolver.answer(msg);
    } catch (err) {
      // A bug of ours, not the client's: say so (SERVFAIL) rather than go silent.
      opts.logger?.error({ err }, 'discovery dns: answering failed');
      reply = msg.length >= 12 ? headerOnly(msg, RCODE.SERVFAIL) : undefined;
    }
    if (reply) socket.send(reply, rinfo.port, rinfo.address);
  });
  socket.on('error', (err) => opts.logger?.error({ err }, 'discovery dns: socket error'));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port ?? 0, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const port = socket.address().port;
  let closed: Promise<void> | undefined;
  return {
    host,
    port,
    close: () => (closed ??= new Promise<void>((resolve) => socket.close(() => resolve()))),
  };
}

/** Answers one query packet from the view (exported for tests without sockets). */
export class ZoneResolver {
  private readonly suffix: string;

  constructor(private readonly view: ServiceView, private readonly zone: string, private readonly ttl: number) {
    this.suffix = `.${zone}`;
  }

  /** The reply to `msg`, or undefined when nothing should be sent back. */
  answer(msg: Buffer): Buffer | undefined {
    if (msg.length < 12) return undefined; // not even a header: no id to answer to
    if (msg.readUInt16BE(2) & FLAG_QR) return undefined; // a response: answering could loop
    const opcode = (msg.readUInt16BE(2) >> 11) & 0xf;
    if (opcode !== OPCODE_QUERY) return headerOnly(msg, RCODE.NOTIMP);
    let query: dns.DecodedPacket;
    try {
      query = dns.decode(msg);
    } catch {
      return headerOnly(msg, RCODE.FORMERR);
    }
    const questions = query.questions ?? [];
    if (questions.length !== 1) return headerOnly(msg, RCODE.FORMERR);
    const question = questions[0]!;
    const opt = (query.additionals ?? []).find((a) => a.type === 'OPT') as dns.OptAnswer | undefined;
    const limit = opt ? Math.min(UDP_MAX, Math.max(UDP_DEFAULT, opt.udpPayloadSize ?? UDP_DEFAULT)) : UDP_DEFAULT;
    const reply = (rcode: number, answers: dns.Answer[], additionals: dns.Answer[], authorities: dns.Answer[]): Buffer => {
      const base = {
        id: query.id ?? 0,
        type: 'response' as const,
        flags: dns.AUTHORITATIVE_ANSWER | (query.flag_rd ? dns.RECURSION_DESIRED : 0) | rcode,
        questions: [question],
        ...(opt ? { additionals: [...additionals, { type: 'OPT', name: '.', udpPayloadSize: UDP_MAX } as dns.Answer] } : { additionals }),
      };
      const full = dns.encode({ ...base, answers, authorities });
      if (full.length <= limit) return full;
      return dns.encode({ ...base, flags: base.flags | dns.TRUNCATED_RESPONSE, answers: [], additionals: opt ? base.additionals.slice(-1) : [], authorities: [] });
    };
    if (question.class !== 'IN' && question.class !== 'ANY') return reply(RCODE.REFUSED, [], [], []);
    const name = normalize(question.name);
    if (name !== this.zone && !name.endsWith(this.suffix)) return reply(RCODE.REFUSED, [], [], []);
    const found = this.lookup(name.slice(0, name.length - this.zone.length).replace(/\.$/, ''), question.type);
    if (!found) return reply(RCODE.NXDOMAIN, [], [], [this.soa()]);
    return reply(RCODE.NOERROR, found.answers, found.additionals, found.answers.length === 0 ? [this.soa()] : []);
  }

  /** `label` is the name without the zone ('' for the apex). Undefined: no such name. */
  private lookup(label: string, type: string): { answers: dns.Answer[]; additionals: dns.Answer[] } | undefined {
    const none = { answers: [], additionals: [] };
    const wantA = type === 'A' || type === 'ANY';
    if (label === '') return type === 'SOA' || type === 'ANY' ? { answers: [this.soa()], additionals: [] } : none;
    const srv = /^_([a-z0-9-]+)\._tcp$/.exec(label);
    if (srv) {
      const service = srv[1]!;
      if (!this.knows(service)) return undefined;
      if (type !== 'SRV' && type !== 'ANY') return none;
      const answers: dns.Answer[] = [];
      const additionals: dns.Answer[] = [];
      for (const r of this.view.instances(service)) {
        const port = servicePort(r);
        if (port === undefined) continue;
        const target = `${r.id.toLowerCase()}.${this.zone}`;
        answers.push({
          type: 'SRV', name: `_${service}._tcp.${this.zone}`, ttl: this.ttl, class: 'IN',
          data: { priority: r.metadata['role'] === 'backup' ? 10 : 0, weight: srvWeight(r.weight), port, target },
        });
        for (const address of addresses([r])) additionals.push({ type: 'A', name: target, ttl: this.ttl, class: 'IN', data: address });
      }
      return { answers, additionals };
    }
    if (label.includes('.')) return undefined;
    if (this.knows(label)) {
      if (!wantA) return none;
      return { answers: addresses(this.view.instances(label)).map((a) => this.a(label, a)), additionals: [] };
    }
    const instance = this.instanceById(label);
    if (!instance) return undefined;
    if (!wantA) return none;
    return { answers: addresses([instance]).map((a) => this.a(label, a)), additionals: [] };
  }

  private knows(service: string): boolean {
    return this.view.all().some((r) => r.service === service);
  }

  /** DNS names are case-insensitive; instance ids may not be. */
  private instanceById(label: string): InstanceRecord | undefined {
    return this.view.get(label) ?? this.view.all().find((r) => r.id.toLowerCase() === label);
  }

  private a(label: string, address: string): dns.Answer {
    return { type: 'A', name: `${label}.${this.zone}`, ttl: this.ttl, class: 'IN', data: address };
  }

  private soa(): dns.Answer {
    return {
      type: 'SOA', name: this.zone, ttl: this.ttl, class: 'IN',
      data: { mname: `ns.${this.zone}`, rname: `hostmaster.${this.zone}`, serial: 1, refresh: 60, retry: 10, expire: 60, minimum: this.ttl },
    };
  }
}

/** Port of the first http(s) or tcp-based URL (`shoal+tcp://`, `tcp://`). */
export function servicePort(r: InstanceRecord): number | undefined {
  for (const raw of r.urls) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      continue;
    }
    const p = url.protocol;
    if (p === 'http:' || p === 'https:' || p === 'tcp:' || p.endsWith('+tcp:')) {
      if (url.port !== '') return Number(url.port);
      if (p === 'http:') return 80;
      if (p === 'https:') return 443;
    }
  }
  return undefined;
}

/** Distinct IPv4 hosts of the instances' URLs, in order of first appearance. */
function addresses(records: readonly InstanceRecord[]): string[] {
  const seen = new Set<string>();
  for (const r of records) {
    for (const raw of r.urls) {
      try {
        const h = new URL(raw).hostname;
        if (isIPv4(h)) seen.add(h);
        else if (h === 'localhost') seen.add('127.0.0.1');
      } catch {
        // stored records are validated; a URL that does not parse has no address to give
      }
    }
  }
  return [...seen];
}

function srvWeight(weight: number | undefined): number {
  return Math.min(65_535, Math.max(1, Math.round(weight ?? 1)));
}

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** A reply with the query's id, opcode and RD bit, the given RCODE, and no sections. */
function headerOnly(msg: Buffer, rcode: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(msg.readUInt16BE(0), 0);
  const flags = msg.readUInt16BE(2);
  out.writeUInt16BE(FLAG_QR | (flags & 0x7800) | (flags & 0x0100) | rcode, 2);
  return out;
}
