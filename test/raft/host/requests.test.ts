import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../../src/raft/host/envelope.js';
import { ProposalLostError, ProposalTimeoutError } from '../../../src/raft/host/index.js';
import { PendingRequests } from '../../../src/raft/host/requests.js';

describe('PendingRequests', () => {
  it('resolves a proposal when its own envelope is applied, whatever the index', async () => {
    const r = new PendingRequests<string>(1, 10_000);
    let data: Uint8Array = new Uint8Array();
    const p = r.propose(Buffer.from('cmd'), (d) => ((data = d), undefined));
    const env = decodeEnvelope(data);
    expect(Buffer.from(env.command).toString()).toBe('cmd');
    r.applied(7, { ...env, incarnation: env.incarnation + 1 }, 'other incarnation'); // not ours
    r.applied(8, env, 'ok');
    await expect(p).resolves.toEqual({ index: 8, result: 'ok' });
  });

  it('rejects a leader proposal at once when another entry is applied at its index', async () => {
    const r = new PendingRequests<string>(1, 10_000);
    const p = r.propose(Buffer.from('cmd'), () => 5);
    r.applied(5, null, undefined); // e.g. the next leader's no-op
    await expect(p).rejects.toBeInstanceOf(ProposalLostError);
  });

  it('times out proposals and reads, and serves reads once applied reaches their index', async () => {
    const r = new PendingRequests<string>(1, 1000);
    let ctx: Uint8Array = new Uint8Array();
    const read = r.read((c) => (ctx = c));
    r.readStates([{ index: 9, context: ctx }], 8);
    let served = false;
    void read.then(() => (served = true));
    await Promise.resolve();
    expect(served).toBe(false);
    r.serveReads(9);
    await expect(read).resolves.toEqual({ index: 9 });

    const late = r.propose(Buffer.from('x'), () => undefined);
    const lateRead = r.read(() => undefined);
    r.expire(Date.now() + 1001);
    await expect(late).rejects.toBeInstanceOf(ProposalTimeoutError);
    await expect(lateRead).rejects.toBeInstanceOf(ProposalTimeoutError);
  });

  it('rejects at once when the core refuses the request', async () => {
    const r = new PendingRequests<string>(1, 1000);
    await expect(r.propose(Buffer.from('x'), () => { throw new Error('noLeader'); })).rejects.toThrow('noLeader');
  });
});
