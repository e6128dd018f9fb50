import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError, type CallContext } from 'etcd3';
import {
  createCoordClient,
  isIdempotentCall,
  isOutcomeAmbiguous,
  OutcomeUnknownError,
  wasNeverSent,
  type RetryInfo,
} from '../../src/recipes/index.js';
import { freePort } from '../support/ports.js';
import { SERVERS, uniqueName, useServer, within } from '../contract/harness.js';
import { LinkProxy } from '../support/fault-proxy.js';

const key = Buffer.from('k');

describe('call classification', () => {
  it.each<[string, CallContext, boolean]>([
    ['range', { service: 'KV', method: 'range', isStream: false, params: { key } }, true],
    ['put', { service: 'KV', method: 'put', isStream: false, params: { key } }, false],
    ['deleteRange', { service: 'KV', method: 'deleteRange', isStream: false, params: { key } }, false],
    ['read-only txn', { service: 'KV', method: 'txn', isStream: false, params: { compare: [], success: [{ request_range: { key } }], failure: [{ request_range: { key } }] } }, true],
    ['txn with a put in failure', { service: 'KV', method: 'txn', isStream: false, params: { success: [{ request_range: { key } }], failure: [{ request_put: { key } }] } }, false],
    ['nested txn with a delete', { service: 'KV', method: 'txn', isStream: false, params: { success: [{ request_txn: { success: [{ request_delete_range: { key } }] } }] } }, false],
    ['compact', { service: 'KV', method: 'compact', isStream: false, params: { revision: 3 } }, false],
    ['leaseGrant', { service: 'Lease', method: 'leaseGrant', isStream: false, params: { TTL: 5 } }, false],
    ['leaseRevoke', { service: 'Lease', method: 'leaseRevoke', isStream: false, params: { ID: 1 } }, true],
    ['leaseTimeToLive', { service: 'Lease', method: 'leaseTimeToLive', isStream: false, params: { ID: 1 } }, true],
    ['memberList', { service: 'Cluster', method: 'memberList', isStream: false, params: {} }, true],
    ['memberAdd', { service: 'Cluster', method: 'memberAdd', isStream: false, params: {} }, false],
    ['status', { service: 'Maintenance', method: 'status', isStream: false }, true],
  ])('%s idempotent: %s', (_label, context, expected) => {
    expect(isIdempotentCall(context)).toBe(expected);
  });

  it('tells never-sent, ambiguous and definite failures apart', () => {
    const noConnection = new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1');
    const dropped = new GRPCUnavailableError('14 UNAVAILABLE: Connection dropped');
    const deadline = new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded');
    const timedOut = new GRPCUnavailableError('14 UNAVAILABLE: etcdserver: request timed out');
    const compacted = new Error('9 FAILED_PRECONDITION: etcdserver: mvcc: required revision has been compacted');
    expect([noConnection, dropped, deadline, timedOut, compacted].map(wasNeverSent)).toEqual([true, false, false, false, false]);
    expect([noConnection, dropped, deadline, timedOut, compacted].map(isOutcomeAmbiguous)).toEqual([false, true, true, true, false]);
  });
});

describe.each(SERVERS)('createCoordClient fault handling on $name', (kind) => {
  const fx = useServer(kind);
  let proxy: LinkProxy;
  beforeAll(async () => {
    proxy = new LinkProxy('coord', Number(new URL(fx.server.endpoints[0]!).port), 'client');
    await proxy.start();
  });
  afterAll(async () => {
    await proxy.stop();
  });

  async function versionOf(k: string): Promise<string | undefined> {
    const res = await fx.client().kv.range({ key: Buffer.from(k) });
    return res.kvs[0]?.version;
  }

  async function warmUp(client: Etcd3): Promise<void> {
    await client.kv.range({ key });
  }

  it('reports a write whose reply was lost as OutcomeUnknownError and does not repeat it', async () => {
    const k = `/shoal/test/${uniqueName('put')}`;
    const retries: RetryInfo[] = [];
    const client = createCoordClient([proxy.url], { callTimeoutMs: 500, onRetry: (r) => retries.push(r) });
    try {
      await warmUp(client);
      expect(proxy.loseReplies()).toBe(1);
      const err = await client.kv.put({ key: Buffer.from(k), value: Buffer.from('v') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OutcomeUnknownError);
      expect((err as OutcomeUnknownError).operation).toBe('KV.put');
      expect(retries).toEqual([]);
    } finally {
      proxy.cutAll();
      client.close();
    }
    expect(await versionOf(k)).toBe('1'); // it did land, exactly once
  });

  it("shows the hazard: etcd3's default fault handling applies the same write more than once", async () => {
    const k = `/shoal/test/${uniqueName('default')}`;
    const client = new Etcd3({ hosts: [proxy.url], defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 500 }) });
    try {
      await warmUp(client);
      expect(proxy.loseReplies()).toBe(1);
      // The first attempt lands but its reply is lost; the client reconnects, sends it again, and
      // reports plain success for a write that was applied twice.
      await client.kv.put({ key: Buffer.from(k), value: Buffer.from('v') });
    } finally {
      proxy.cutAll();
      client.close();
    }
    expect(await versionOf(k)).toBe('2');
  });

  it('retries an idempotent read whose reply was lost', async () => {
    const k = `/shoal/test/${uniqueName('read')}`;
    await fx.client().put(k).value('seen');
    const retries: RetryInfo[] = [];
    const client = createCoordClient([proxy.url], {
      callTimeoutMs: 500,
      onRetry: (r) => retries.push(r),
    });
    try {
      await warmUp(client);
      expect(proxy.loseReplies()).toBe(1);
      const res = await within(client.kv.range({ key: Buffer.from(k) }), 10_000, 'range with retry');
      expect(res.kvs[0]?.value.toString()).toBe('seen');
      expect(retries).toHaveLength(1);
      expect(retries[0]).toMatchObject({ operation: 'KV.range', attempt: 1, reason: 'idempotent' });
    } finally {
      proxy.cutAll();
      client.close();
    }
  });

  it('moves a write that could not be sent on to the next endpoint', async () => {
    const k = `/shoal/test/${uniqueName('failover')}`;
    const dead = `http://127.0.0.1:${await freePort()}`;
    const client = createCoordClient([dead, fx.server.endpoints[0]!], { initialBackoffMs: 5 });
    try {
      for (let i = 0; i < 4; i++) await within(client.kv.put({ key: Buffer.from(k), value: Buffer.from(String(i)) }), 10_000, `put ${i}`);
    } finally {
      client.close();
    }
    expect(await versionOf(k)).toBe('4'); // each put applied exactly once, whichever endpoint was tried first
  });

  it('retries a write that provably never left (no connection), then reports the real error', async () => {
    const deadPort = await freePort();
    const retries: RetryInfo[] = [];
    const client = createCoordClient([`http://127.0.0.1:${deadPort}`], { maxAttempts: 3, initialBackoffMs: 5, onRetry: (r) => retries.push(r) });
    try {
      const err = await within(client.kv.put({ key, value: key }).catch((e: unknown) => e), 10_000, 'put to a dead port');
      expect(err).not.toBeInstanceOf(OutcomeUnknownError);
      expect(String((err as Error).message)).toMatch(/No connection established/);
      // 3 attempts, plus one per endpoint for a request that provably never left.
      expect(retries.map((r) => r.reason)).toEqual(['never-sent', 'never-sent', 'never-sent']);
    } finally {
      client.close();
    }
  });
});
