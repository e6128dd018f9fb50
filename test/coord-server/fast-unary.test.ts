// Both lean paths answer every call as grpc-js does: the lean gRPC server (src/coord/grpc, the
// default) and, on grpc-js, the lean KV call path (src/coord/server/fast-unary.ts). Each case runs
// against each of them and against plain grpc-js, on a stub backend, and the answers (status
// code, message, response) must be the same.
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageType } from '../../src/coord/node/index.js';
import { MAX_RECEIVE_BYTES, startCoordServer, type CoordBackend, type CoordServer } from '../../src/coord/server/index.js';
import { CoordError, type Command, type CommandResult, type RangeRequest, type RangeResponse } from '../../src/coord/types.js';

/** What the stub does with a put of a given key. */
const puts: Record<string, () => Promise<CommandResult>> = {
  ok: () => Promise.resolve({ type: 'put', res: { revision: 7, prevKv: null } } as unknown as CommandResult),
  hang: () => new Promise<CommandResult>(() => {}),
  slow: () => new Promise<CommandResult>((r) => setTimeout(() => r({ type: 'put', res: { revision: 8, prevKv: null } } as unknown as CommandResult), 300)),
  refused: () => Promise.reject(new CoordError('FAILED_PRECONDITION', 'etcdserver: 100% refused, "quoted"')),
  broken: () => Promise.reject(new Error('boom')),
};

const backend = {
  memberId: 1,
  clusterId: 2,
  isLearner: false,
  stopping: false,
  revision: 7,
  refusal: () => null,
  header: (revision: number) => ({ clusterId: 2, memberId: 1, revision, raftTerm: 3 }),
  range: (req: RangeRequest): RangeResponse =>
    ({
      revision: 7,
      kvs: [{ key: req.key, value: Buffer.from('v'), createRevision: 2, modRevision: 7, version: 3, lease: 0 }],
      more: false,
      count: 1,
    }) as unknown as RangeResponse,
  propose: (cmd: Command) => {
    const key = cmd.type === 'put' ? Buffer.from(cmd.req.key).toString() : 'ok';
    return (puts[key] ?? puts['ok']!)();
  },
} as unknown as CoordBackend;

const log = pino({ level: 'silent' });
let lean: CoordServer;
let fast: CoordServer;
let plain: CoordServer;
const url = (s: CoordServer): string => `127.0.0.1:${s.addresses[0]!.port}`;

beforeAll(async () => {
  lean = await startCoordServer({ backend, log, listen: [{ host: '127.0.0.1', port: 0 }] });
  fast = await startCoordServer({ backend, log, listen: [{ host: '127.0.0.1', port: 0 }], grpcServer: 'grpc-js' });
  plain = await startCoordServer({ backend, log, listen: [{ host: '127.0.0.1', port: 0 }], grpcServer: 'grpc-js', fastUnary: false });
});
afterAll(async () => {
  await lean.close();
  await fast.close();
  await plain.close();
});

interface Answer {
  code: number;
  details: string;
  body?: unknown;
}

/** One unary call through a grpc-js client (the etcd3 client's transport). */
async function call(server: CoordServer, method: string, req: object, timeoutMs = 5000): Promise<Answer> {
  const reqType = messageType(`etcdserverpb.${method === 'Range' ? 'Range' : method}Request`);
  const resType = messageType(`etcdserverpb.${method}Response`);
  const client = new grpc.Client(url(server), grpc.credentials.createInsecure());
  try {
    return await new Promise<Answer>((resolve) => {
      client.makeUnaryRequest(
        `/etcdserverpb.KV/${method}`,
        (m: object) => Buffer.from(reqType.encode(m).finish()),
        (b: Buffer) => resType.toObject(resType.decode(b), { longs: Number, bytes: String }),
        req,
        { deadline: Date.now() + timeoutMs },
        (err, res) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', body: res }),
      );
    });
  } finally {
    client.close();
  }
}

interface RawAnswer {
  status?: string;
  message?: string;
}

/** One call with hand-made headers and body, over plain HTTP/2. */
function raw(server: CoordServer, headers: Record<string, string>, body: Buffer, path = '/etcdserverpb.KV/Range'): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${url(server)}`);
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    const out: RawAnswer = {};
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) out.status = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) out.message = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', take);
    req.on('trailers', take);
    req.resume();
    req.on('close', () => {
      session.close();
      resolve(out);
    });
    req.end(body);
  });
}

const frame = (msg: Buffer, flag = 0): Buffer => {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
};
const rangeBytes = Buffer.from(messageType('etcdserverpb.RangeRequest').encode({ key: Buffer.from('k') }).finish());
const putBytes = (key: string): Buffer =>
  Buffer.from(messageType('etcdserverpb.PutRequest').encode({ key: Buffer.from(key), value: Buffer.from('v') }).finish());

describe('the lean paths', () => {
  it('are in use: the lean server by default, fast-unary attached to grpc-js (a grpc-js upgrade that moves its HTTP/2 server turns it off)', () => {
    expect(lean.grpcServer).toBe('lean');
    expect(fast.grpcServer).toBe('grpc-js');
    expect(fast.fastUnary).toBe(true);
    expect(plain.fastUnary).toBe(false);
  });

  const cases: [string, string, object, number?][] = [
    ['a range', 'Range', { key: Buffer.from('k') }],
    ['a put', 'Put', { key: Buffer.from('ok'), value: Buffer.from('v') }],
    ['a refused put (message with % and quotes)', 'Put', { key: Buffer.from('refused'), value: Buffer.from('v') }],
    ['a put that fails inside the server', 'Put', { key: Buffer.from('broken'), value: Buffer.from('v') }],
    ['a put past its deadline', 'Put', { key: Buffer.from('hang'), value: Buffer.from('v') }, 200],
    ['a put answered after its deadline', 'Put', { key: Buffer.from('slow'), value: Buffer.from('v') }, 100],
    ['a request over 1.5 MiB', 'Put', { key: Buffer.from('ok'), value: Buffer.alloc(1.6 * 1024 * 1024) }],
    ['a request over the gRPC receive limit', 'Put', { key: Buffer.from('ok'), value: Buffer.alloc(MAX_RECEIVE_BYTES + 10) }],
    ['a request that does not decode', 'Txn', { compare: [{ target: 'VALUE', key: Buffer.from('k'), result: 'EQUAL', value: Buffer.alloc(0) }], success: [{}] }],
  ];
  for (const [name, method, req, timeoutMs] of cases) {
    it(`answers ${name} as grpc-js does`, async () => {
      const b = await call(plain, method, req, timeoutMs);
      // grpc-js says "OK" in a success's grpc-message; the lean paths, like etcd, send none.
      if (b.code === 0) b.details = '';
      for (const server of [lean, fast]) {
        const a = await call(server, method, req, timeoutMs);
        // A deadline the client enforces itself is described by the client (with timings).
        if (b.code === grpc.status.DEADLINE_EXCEEDED) expect(a.code).toBe(b.code);
        else expect(a).toEqual(b);
      }
    });
  }

  // [name, headers, body, path, served by the lean path (else handed to grpc-js)]
  const rawCases: [string, Record<string, string>, Buffer, string?, boolean?][] = [
    ['no request message', {}, Buffer.alloc(0)],
    ['two request messages', {}, Buffer.concat([frame(rangeBytes), frame(rangeBytes)])],
    ['an unparsable grpc-timeout', { 'grpc-timeout': 'soon' }, frame(rangeBytes)],
    ['a grpc-timeout that passes (server-side deadline)', { 'grpc-timeout': '150m' }, frame(putBytes('hang')), '/etcdserverpb.KV/Put'],
    ['an answer after the grpc-timeout', { 'grpc-timeout': '100000u' }, frame(putBytes('slow')), '/etcdserverpb.KV/Put'],
    ['a grpc-timeout in time', { 'grpc-timeout': '2S' }, frame(putBytes('ok')), '/etcdserverpb.KV/Put'],
    ['a compressed request (left to grpc-js)', { 'grpc-encoding': 'gzip' }, frame(rangeBytes), undefined, false],
    ['a message length over the receive limit', {}, frame(Buffer.alloc(16)).fill(0xff, 1, 5)],
    ['a request with the compressed flag and no encoding', {}, frame(rangeBytes, 1)],
    ['a wrong content type (left to grpc-js)', { 'content-type': 'text/plain' }, frame(rangeBytes), undefined, false],
  ];
  for (const [name, headers, body, path, fastServes = true] of rawCases) {
    it(`answers ${name} as grpc-js does`, async () => {
      const b = await raw(plain, headers, body, path);
      const a = await raw(fast, headers, body, path);
      const c = await raw(lean, headers, body, path);
      expect(a).toEqual(fastServes && b.status === '0' ? { ...b, message: undefined } : b);
      if (headers['grpc-encoding'] !== undefined || body[0] === 1) {
        // The lean server, like etcd's, registers no decompressor (and grpc-js takes a message
        // flagged compressed without an encoding as it is).
        expect(c.status).toBe(String(grpc.status.UNIMPLEMENTED));
      } else if (headers['content-type'] !== undefined) {
        expect(c.status).toBe(String(grpc.status.INTERNAL));
      } else {
        expect(c).toEqual(b.status === '0' ? { ...b, message: undefined } : b);
      }
    });
  }

  it.each([['the lean server', () => lean], ['fast-unary', () => fast]])('%s survives a client that cancels before the answer', async (_, server) => {
    const client = new grpc.Client(url(server()), grpc.credentials.createInsecure());
    const put = messageType('etcdserverpb.PutRequest');
    const pending = client.makeUnaryRequest(
      '/etcdserverpb.KV/Put',
      (m: object) => Buffer.from(put.encode(m).finish()),
      (b: Buffer) => b,
      { key: Buffer.from('slow'), value: Buffer.from('v') },
      () => {},
    );
    await new Promise((r) => setTimeout(r, 50));
    pending.cancel();
    await new Promise((r) => setTimeout(r, 400));
    client.close();
    expect((await call(server(), 'Range', { key: Buffer.from('k') })).code).toBe(0);
  });
});
