// Shared by the discovery tests: records, a log sink, and store entries for the pure view state.
import dgram from 'node:dgram';
import pino, { type Logger } from 'pino';
import * as dns from 'dns-packet';
import { expect } from 'vitest';
import { within } from '../contract/harness.js';
import type { InstanceRecord } from '../../src/discovery/index.js';
import { recordKey } from '../../src/discovery/index.js';
import { encodeRecord } from '../../src/discovery/record.js';
import type { StoreEvent } from '../../src/discovery/view-state.js';

export function record(over: Partial<InstanceRecord> & Pick<InstanceRecord, 'id'>): InstanceRecord {
  return {
    service: 'goods',
    version: '1.0.0',
    urls: ['shoal+tcp://127.0.0.1:4711', 'http://127.0.0.1:4712'],
    host: 'test-host',
    pid: 1234,
    actions: ['goods.get'],
    events: [],
    metadata: {},
    ready: true,
    startedAt: '2025-01-01T00:00:00.000Z',
    ...over,
  };
}

export function witnessPath(r: InstanceRecord): string {
  return `/shoal/service-leases/${r.service}/${r.version}/${r.id}`;
}

let rev = 0n;
export function put(key: string, value: string, lease = '7', modRevision = ++rev): StoreEvent {
  return { type: 'put', key, value, lease, modRevision };
}
export function del(key: string, modRevision = ++rev): StoreEvent {
  return { type: 'delete', key, value: '', lease: '0', modRevision };
}
export function putRecord(r: InstanceRecord, modRevision?: bigint): StoreEvent {
  return put(recordKey(r), encodeRecord(r), '7', modRevision);
}
export function nextRevision(): bigint {
  return ++rev;
}

/** A pino logger whose JSON lines land in `lines`. */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { logger, lines };
}

/** Sends one datagram to the server and resolves with the first reply (bounded). */
export async function ask(port: number, packet: Buffer, ms = 2000): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  try {
    const reply = new Promise<Buffer>((resolve) => socket.once('message', (msg) => resolve(msg)));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    socket.send(packet, port, '127.0.0.1');
    return await within(reply, ms, 'a DNS reply');
  } finally {
    socket.close();
  }
}

/** Sends `first` then `probe` from one socket; resolves with the first reply (loopback keeps datagram order). */
export async function askAfter(port: number, first: Buffer[], probe: Buffer): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  try {
    const reply = new Promise<Buffer>((resolve) => socket.once('message', (msg) => resolve(msg)));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    for (const packet of [...first, probe]) socket.send(packet, port, '127.0.0.1');
    return await within(reply, 2000, 'a DNS reply');
  } finally {
    socket.close();
  }
}

/** A decoded reply; dns-packet's decoder sets rcode, its types omit it. */
export type Reply = dns.DecodedPacket & { rcode: string };

export async function query(port: number, name: string, type: dns.RecordType, id = 4242): Promise<Reply> {
  const packet = dns.encode({ type: 'query', id, flags: dns.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
  const reply = dns.decode(await ask(port, packet)) as Reply;
  expect(reply.id).toBe(id);
  expect(reply.flag_qr).toBe(true);
  return reply;
}

