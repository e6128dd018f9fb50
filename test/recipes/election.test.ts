import { describe, expect, it } from 'vitest';
import { Election, electionPrefix, NotHolderError, watchFrom, type LeaderInfo, type Leadership } from '../../src/recipes/index.js';
import { aborted, Inbox, SERVERS, uniqueName, useServer, within } from '../contract/harness.js';

describe.each(SERVERS)('election recipe on $name', (kind) => {
  const fx = useServer(kind);

  it('elects one leader, fails over on resign and on lease revocation, and observers see every change in order', async () => {
    const name = uniqueName('leader');
    const [c1, c2, c3, admin] = [fx.client(), fx.client(), fx.client(), fx.client()];
    const observed = new Inbox<string | undefined>();
    const observer = await new Election(admin, name).observe((leader) => observed.push(leader?.value));
    await observed.count(1, 5000, 'initial observation');
    expect(observed.all()).toEqual([undefined]);

    const first = await within(new Election(c1, name).campaign('node-1', { ttlSeconds: 30 }), 5000, 'first campaign');
    expect(first.isLeader()).toBe(true);
    expect(first.key).toBe(`${electionPrefix(name)}${BigInt(first.session.leaseId).toString(16)}`);
    await observed.until((v) => v.at(-1) === 'node-1', 5000, 'node-1 observed');

    // Two more candidates queue behind the leader, in a known order (each waits until the previous one's key exists).
    const from = BigInt((await admin.kv.range({ key: Buffer.from(electionPrefix(name)) })).header.revision) + 1n;
    const queued = new Inbox<string>();
    const queueWatch = await watchFrom(admin, { key: electionPrefix(name), prefix: true, startRevision: from, only: 'put' }, {
      onEvents: (events) => events.forEach((ev) => queued.push(ev.kv.value.toString())),
      onCancelled: () => undefined,
    });
    const secondP = new Election(c2, name).campaign('node-2', { ttlSeconds: 30, timeoutMs: 20_000 });
    await queued.count(1, 5000, 'node-2 queued');
    const thirdP = new Election(c3, name).campaign('node-3', { ttlSeconds: 30, timeoutMs: 20_000 });
    await queued.count(2, 5000, 'node-3 queued');
    await queueWatch.cancel();
    expect(queued.all()).toEqual(['node-2', 'node-3']);

    await first.proclaim('node-1 v2');
    await observed.until((v) => v.at(-1) === 'node-1 v2', 5000, 'proclaimed value observed');
    expect((await new Election(admin, name).leader())?.value).toBe('node-1 v2');

    // Failover 1: the leader resigns.
    await first.resign();
    expect(first.isLeader()).toBe(false);
    await expect(first.proclaim('stale')).rejects.toBeInstanceOf(NotHolderError);
    const next = await within(secondP, 10_000, 'failover after resign');
    expect(next.isLeader()).toBe(true);
    expect(next.createRevision).toBeGreaterThan(first.createRevision);
    const nextValue = (await new Election(admin, name).leader())?.value;
    expect(nextValue).toBe('node-2'); // candidates lead in the order they queued
    await observed.until((v) => v.at(-1) === 'node-2', 5000, 'node-2 observed');

    // Failover 2: the leader's lease is revoked from outside (as when it dies and its lease expires).
    await admin.leaseClient.leaseRevoke({ ID: next.session.leaseId });
    const third: Leadership = await within(thirdP, 10_000, 'failover after revocation');
    await aborted(next.lost, 5000, 'old leader notices the loss');
    expect(next.isLeader()).toBe(false);
    expect(third.isLeader()).toBe(true);
    expect(third.createRevision).toBeGreaterThan(next.createRevision);
    await observed.until((v) => v.at(-1) === 'node-3', 5000, 'node-3 observed');

    await third.resign();
    await observed.until((v) => v.length > 0 && v.at(-1) === undefined, 5000, 'no leader observed');
    expect(observed.all()).toEqual([undefined, 'node-1', 'node-1 v2', 'node-2', 'node-3', undefined]);
    await observer.close();
    await next.resign();
  });

  it('reports the leader with its revisions, and a campaign that times out leaves no key behind', async () => {
    const name = uniqueName('info');
    const [a, b] = [fx.client(), fx.client()];
    const election = new Election(a, name);
    expect(await election.leader()).toBeUndefined();
    const lead = await election.campaign('alpha');
    const info = (await election.leader()) as LeaderInfo;
    expect(info).toMatchObject({ key: lead.key, value: 'alpha', createRevision: lead.createRevision, lease: lead.session.leaseId });
    expect(info.modRevision).toBe(info.createRevision);
    await expect(new Election(b, name).campaign('beta', { timeoutMs: 200 })).rejects.toThrow(/not elected within 200 ms/);
    const keys = await a.getAll().prefix(electionPrefix(name)).keys();
    expect(keys).toEqual([lead.key]);
    await lead.resign();
    expect(await election.leader()).toBeUndefined();
  });
});
