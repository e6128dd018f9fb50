import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as dns from 'dns-packet';
import { createDnsServer, recordKey, type DnsServer, type ServiceView } from '../../src/discovery/index.js';
import { encodeRecord } from '../../src/discovery/record.js';
import { ViewState } from '../../src/discovery/view-state.js';
import { ask, askAfter, query, record } from './helpers.js';

describe('DNS interface', () => {
  const state = new ViewState(() => undefined);
  const view: ServiceView = {
    instances: (s, v) => state.instances(s, v),
    subscribers: (e) => state.subscribers(e),
    all: () => state.all(),
    get: (id) => state.get(id),
    eject: (id, until) => void state.eject(id, until, Date.now()),
    onChange: () => () => undefined,
    close: async () => undefined,
  };
  let server: DnsServer;
  const instances = [
    record({ id: 'goods-a1', urls: ['shoal+tcp://127.0.0.1:4711', 'http://127.0.0.1:4712'], weight: 3 }),
    record({ id: 'goods-b2', urls: ['http://127.0.0.2:5001'], metadata: { role: 'backup' } }),
    record({ id: 'goods-c3', urls: ['http://127.0.0.3:5002'], ready: false }),
    record({ id: 'Users-X', service: 'users', urls: ['http://localhost:6000'] }),
  ];

  beforeAll(async () => {
    state.reload(instances.map((r) => ({ key: recordKey(r), value: encodeRecord(r), lease: '1', modRevision: 1n })), 1n);
    server = await createDnsServer(view, { ttlSeconds: 2 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers SRV for a service with one record per ready instance, and the targets\' addresses', async () => {
    const reply = await query(server.port, '_goods._tcp.shoal', 'SRV');
    expect(reply.rcode).toBe('NOERROR');
    expect(reply.flag_aa).toBe(true);
    expect(reply.flag_rd).toBe(true);
    const srv = (reply.answers ?? []).map((a) => (a as dns.SrvAnswer).data);
    expect(srv).toEqual([
      { priority: 0, weight: 3, port: 4711, target: 'goods-a1.shoal' },
      { priority: 10, weight: 1, port: 5001, target: 'goods-b2.shoal' },
    ]);
    expect((reply.answers ?? []).every((a) => (a as dns.SrvAnswer).ttl === 2)).toBe(true);
    expect((reply.additionals ?? []).map((a) => [a.name, (a as dns.StringAnswer).data])).toEqual([
      ['goods-a1.shoal', '127.0.0.1'], ['goods-b2.shoal', '127.0.0.2'],
    ]);
  });

  it('answers A for a service and for an instance id (case-insensitive), from the URLs\' hosts', async () => {
    const service = await query(server.port, 'GOODS.shoal.', 'A');
    expect(service.rcode).toBe('NOERROR');
    expect((service.answers ?? []).map((a) => (a as dns.StringAnswer).data)).toEqual(['127.0.0.1', '127.0.0.2']);
    const instance = await query(server.port, 'goods-c3.shoal', 'A'); // not ready, but it exists
    expect((instance.answers ?? []).map((a) => (a as dns.StringAnswer).data)).toEqual(['127.0.0.3']);
    const mixedCase = await query(server.port, 'users-x.shoal', 'A');
    expect((mixedCase.answers ?? []).map((a) => (a as dns.StringAnswer).data)).toEqual(['127.0.0.1']);
  });

  it('follows the view: ejected and unready instances leave the answers at once', async () => {
    view.eject('goods-a1', Date.now() + 60_000);
    try {
      const reply = await query(server.port, '_goods._tcp.shoal', 'SRV');
      expect((reply.answers ?? []).map((a) => (a as dns.SrvAnswer).data.target)).toEqual(['goods-b2.shoal']);
    } finally {
      view.eject('goods-a1', 0);
    }
    const back = await query(server.port, '_goods._tcp.shoal', 'SRV');
    expect(back.answers).toHaveLength(2);
  });

  it('NXDOMAIN for unknown names, NODATA for other types, REFUSED outside the zone, SOA at the apex', async () => {
    for (const name of ['nothing.shoal', '_nothing._tcp.shoal', 'a.b.shoal']) {
      const reply = await query(server.port, name, 'A');
      expect(reply.rcode, name).toBe('NXDOMAIN');
      expect(reply.answers).toEqual([]);
      expect(reply.authorities?.[0]?.type).toBe('SOA');
    }
    const aaaa = await query(server.port, 'goods.shoal', 'AAAA');
    expect(aaaa.rcode).toBe('NOERROR');
    expect(aaaa.answers).toEqual([]);
    expect((await query(server.port, 'example.com', 'A')).rcode).toBe('REFUSED');
    const apex = await query(server.port, 'shoal', 'SOA');
    expect(apex.answers?.[0]?.type).toBe('SOA');
  });

  it('never crashes on garbage: FORMERR, NOTIMP, ignored responses and short packets, then still answers', async () => {
    const id = (b: Buffer): number => b.readUInt16BE(0);
    const rcode = (b: Buffer): number => b.readUInt16BE(2) & 0xf;
    // A header claiming one question, followed by junk.
    const junk = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]), Buffer.from([0xff, 0xff, 0xff])]);
    const formerr = await ask(server.port, junk);
    expect([id(formerr), rcode(formerr), formerr.readUInt16BE(2) >> 15]).toEqual([0x1234, 1, 1]);
    // Two questions.
    const two = dns.encode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'goods.shoal' }, { type: 'A', name: 'users.shoal' }] });
    expect(rcode(await ask(server.port, two))).toBe(1);
    // An UPDATE (opcode 5).
    const update = Buffer.from(dns.encode({ type: 'query', id: 9, questions: [{ type: 'A', name: 'goods.shoal' }] }));
    update.writeUInt16BE(update.readUInt16BE(2) | (5 << 11), 2);
    const notimp = await ask(server.port, update);
    expect([id(notimp), rcode(notimp), (notimp.readUInt16BE(2) >> 11) & 0xf]).toEqual([9, 4, 5]);
    // A response, a short packet and random bytes get no answer; the server keeps serving.
    // Sent first on the same socket, they would be answered first: the first reply must be the probe's.
    const silent = [dns.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'goods.shoal' }] }), Buffer.from([1, 2, 3])];
    const probe = dns.encode({ type: 'query', id: 777, questions: [{ type: 'A', name: 'goods.shoal' }] });
    expect(id(await askAfter(server.port, silent, probe))).toBe(777);
    for (let i = 0; i < 50; i++) {
      const bytes = Buffer.from(Array.from({ length: 12 + (i * 7) % 40 }, (_, j) => (i * 31 + j * 17) & 0xff));
      bytes.writeUInt16BE(bytes.readUInt16BE(2) & 0x7fff & ~(0xf << 11), 2); // a query with opcode QUERY: must be answered
      const reply = await ask(server.port, bytes);
      expect(id(reply)).toBe(bytes.readUInt16BE(0));
    }
    expect((await query(server.port, 'goods.shoal', 'A')).rcode).toBe('NOERROR');
  });

  it('sets TC when the answer does not fit the client\'s UDP size', async () => {
    const many = Array.from({ length: 40 }, (_, i) => record({ id: `big-${String(i).padStart(2, '0')}`, service: 'big', urls: [`http://127.0.1.${i}:80`] }));
    state.reload([...instances, ...many].map((r) => ({ key: recordKey(r), value: encodeRecord(r), lease: '1', modRevision: 2n })), 2n);
    const small = await query(server.port, '_big._tcp.shoal', 'SRV');
    expect(small.flag_tc).toBe(true);
    expect(small.answers).toEqual([]);
    const edns = dns.encode({
      type: 'query', id: 5, questions: [{ type: 'SRV', name: '_big._tcp.shoal' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as dns.Answer],
    });
    const large = dns.decode(await ask(server.port, edns));
    expect(large.flag_tc).toBe(false);
    expect(large.answers).toHaveLength(40);
  });
});
