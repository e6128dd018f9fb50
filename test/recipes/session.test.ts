import { describe, expect, it } from 'vitest';
import { Session, SessionLostError } from '../../src/recipes/index.js';
import { aborted, SERVERS, useServer } from '../contract/harness.js';

describe.each(SERVERS)('session on $name', (kind) => {
  const fx = useServer(kind);

  it('keeps its lease and notices, through keep-alive, when the lease is revoked elsewhere', async () => {
    const [client, admin] = [fx.client(), fx.client()];
    const session = await Session.create(client, { ttlSeconds: 3 });
    expect(session.isAlive()).toBe(true);
    expect(session.leaseIdHex).toBe(BigInt(session.leaseId).toString(16));
    const ttl = await admin.leaseClient.leaseTimeToLive({ ID: session.leaseId });
    expect(ttl.grantedTTL).toBe('3');
    await admin.leaseClient.leaseRevoke({ ID: session.leaseId });
    // No key is watched here: the next keep-alive (every TTL/3) answers TTL 0.
    const reason = await aborted(session.lost, 5000, 'keep-alive to report the revoked lease');
    expect(reason).toBeInstanceOf(SessionLostError);
    expect(String((reason as Error).message)).toMatch(/expired or was revoked/);
    expect(session.isAlive()).toBe(false);
    await session.close(); // closing a lost session is harmless
  });

  it('close() revokes the lease and deletes its keys', async () => {
    const client = fx.client();
    const session = await Session.create(client, { ttlSeconds: 30 });
    await client.kv.put({ key: Buffer.from(`/shoal/test/session-${session.leaseIdHex}`), value: Buffer.from('x'), lease: session.leaseId });
    await session.close();
    expect(session.isAlive()).toBe(false);
    expect((await client.kv.range({ key: Buffer.from(`/shoal/test/session-${session.leaseIdHex}`) })).kvs).toEqual([]);
    expect((await client.leaseClient.leaseTimeToLive({ ID: session.leaseId })).TTL).toBe('-1');
  });
});
