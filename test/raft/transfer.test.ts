import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/raft/index.js';
import { Network } from './harness.js';

describe('leadership transfer (thesis 3.10)', () => {
  it('hands leadership to an up-to-date follower with TimeoutNow', () => {
    const net = Network.of([1, 2, 3], { seed: 51 });
    net.campaign(1);
    net.propose(1, 'a');
    const term = net.node(1).term;
    net.node(1).transferLeadership(2);
    net.stabilize();
    expect(net.delivered.filter((m) => m.type === 'timeoutNow').map((m) => m.to)).toEqual([2]);
    expect(net.node(2).role).toBe('leader');
    expect(net.node(2).term).toBe(term + 1);
    expect(net.node(1).role).toBe('follower');
    expect(net.node(1).lead).toBe(2);
    net.propose(2, 'b');
    for (const id of [1, 2, 3]) expect(net.peer(id).applied).toEqual(['a', 'b']);
  });

  it('catches a lagging transferee up first, and works with pre-vote and check-quorum leases', () => {
    const net = Network.of([1, 2, 3], { seed: 52, preVote: true, checkQuorum: true });
    net.campaign(1);
    net.isolate(3);
    for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
    net.heal();
    const last = net.node(1).log.lastIndex();
    const start = net.delivered.length;
    net.node(1).transferLeadership(3);
    net.stabilize();
    // TimeoutNow goes out only after node 3 acknowledged the leader's whole log.
    const after = net.delivered.slice(start);
    const timeoutAt = after.findIndex((m) => m.type === 'timeoutNow');
    const caughtUpAt = after.findIndex((m) => m.type === 'appResp' && m.from === 3 && !m.reject && m.index === last);
    expect(after.findIndex((m) => m.type === 'app' && m.to === 3 && m.entries.length > 0)).toBeGreaterThanOrEqual(0);
    expect(caughtUpAt).toBeGreaterThanOrEqual(0);
    expect(timeoutAt).toBeGreaterThan(caughtUpAt);
    expect(net.node(3).role).toBe('leader');
    // Node 2 was inside its leader lease, yet voted: the request was marked as a transfer.
    expect(net.delivered.some((m) => m.type === 'voteResp' && m.from === 2 && m.to === 3 && !m.reject)).toBe(true);
    expect(net.delivered.some((m) => m.type === 'preVote' && m.from === 3)).toBe(false);
  });

  it('a follower forwards the request to the leader', () => {
    const net = Network.of([1, 2, 3], { seed: 53 });
    net.campaign(1);
    net.node(3).transferLeadership(3);
    net.stabilize();
    expect(net.node(3).role).toBe('leader');
  });

  it('is abandoned after an election timeout if the transferee does not take over', () => {
    const net = Network.of([1, 2, 3], { seed: 54 });
    net.campaign(1);
    net.ignore('timeoutNow');
    net.node(1).transferLeadership(2);
    net.stabilize();
    expect(net.node(1).leadTransferee).toBe(2);
    // New proposals are refused while the transfer is in progress.
    expect(() => net.node(1).propose(new Uint8Array([1]))).toThrow(/transferring/);
    net.tickAll(9, [1]);
    expect(net.node(1).leadTransferee).toBe(2);
    net.tickAll(1, [1]);
    expect(net.node(1).leadTransferee).toBe(0);
    expect(net.node(1).role).toBe('leader');
    net.propose(1, 'ok');
    expect(net.peer(2).applied).toEqual(['ok']);
  });

  it('ignores transfers to itself or to a learner', () => {
    const net = Network.of([1, 2, 3], { seed: 55 });
    net.campaign(1);
    net.node(1).transferLeadership(1);
    expect(net.node(1).leadTransferee).toBe(0);
    net.add(4, new MemoryStorage());
    net.node(1).proposeConfChange({ transition: 'auto', changes: [{ type: 'addLearner', nodeId: 4 }] });
    net.stabilize();
    expect(() => net.node(1).transferLeadership(4)).toThrow();
    expect(net.node(1).leadTransferee).toBe(0);
    expect(net.node(1).role).toBe('leader');
  });
});
