import { describe, expect, it } from 'vitest';
import { RaftNode, type RaftConfig } from '../../src/raft/index.js';
import { Network, bytes, text, type NodeFactory } from './harness.js';

const ctxs = (net: Network, id: number) => net.peer(id).readStates.map((r) => `${text(r.context)}@${r.index}`);

describe('linearizable reads with ReadIndex (thesis 6.4)', () => {
  it('leader: answers with its commit index after a heartbeat round with a quorum', () => {
    const net = Network.of([1, 2, 3], { seed: 21 });
    net.campaign(1);
    net.propose(1, 'a');
    const before = net.delivered.length;
    net.node(1).readIndex(bytes('r1'));
    net.stabilize();
    expect(ctxs(net, 1)).toEqual(['r1@3']);
    const round = net.delivered.slice(before);
    expect(round.filter((m) => m.type === 'heartbeat' && text(m.context!) === 'r1')).toHaveLength(2);
    expect(round.filter((m) => m.type === 'heartbeatResp')).toHaveLength(2);
  });

  it('follower: forwards to the leader and gets the read index back', () => {
    const net = Network.of([1, 2, 3], { seed: 22 });
    net.campaign(1);
    net.propose(1, 'a');
    net.propose(1, 'b');
    net.node(3).readIndex(bytes('f'));
    net.stabilize();
    expect(ctxs(net, 3)).toEqual(['f@4']);
    expect(net.peer(3).appliedIndex).toBeGreaterThanOrEqual(4);
    expect(net.peer(1).readStates).toEqual([]);
  });

  it('is not served before the leader has committed an entry in its own term', () => {
    const net = Network.of([1, 2, 3], { seed: 23 });
    net.campaign(1);
    net.propose(1, 'a');
    net.ignore('app'); // the new leader's empty entry cannot reach a quorum
    net.campaign(2);
    net.tickAll(1, [2]); // heartbeats tell node 3 who leads
    expect(net.node(2).role).toBe('leader');
    expect(net.node(3).lead).toBe(2);
    expect(net.node(2).committedEntryInCurrentTerm()).toBe(false);
    net.node(2).readIndex(bytes('early'));
    net.node(3).readIndex(bytes('early3'));
    net.stabilize();
    net.tickAll(3, [2]); // heartbeats flow, but the reads are held
    expect(net.peer(2).readStates).toEqual([]);
    expect(net.peer(3).readStates).toEqual([]);
    net.recover();
    net.tickAll(1, [2]);
    expect(net.node(2).committedEntryInCurrentTerm()).toBe(true);
    expect(ctxs(net, 2)).toEqual(['early@4']);
    expect(ctxs(net, 3)).toEqual(['early3@4']);
  });

  it('a leader cut off from the quorum never answers', () => {
    const net = Network.of([1, 2, 3], { seed: 24 });
    net.campaign(1);
    net.isolate(1);
    net.node(1).readIndex(bytes('stale'));
    net.tickAll(30, [1]);
    expect(net.peer(1).readStates).toEqual([]);
  });

  it('a single-node cluster answers at once, and confirming a read confirms the earlier ones', () => {
    const one = Network.of([1], { seed: 25 });
    one.campaign(1);
    one.node(1).readIndex(bytes('solo'));
    one.stabilize();
    expect(ctxs(one, 1)).toEqual(['solo@2']);

    const net = Network.of([1, 2, 3], { seed: 25 });
    net.campaign(1);
    net.ignore('heartbeatResp');
    net.node(1).readIndex(bytes('x'));
    net.node(1).readIndex(bytes('y'));
    net.stabilize();
    expect(net.peer(1).readStates).toEqual([]);
    net.recover();
    net.tickAll(1, [1]); // the periodic heartbeat carries the latest context, "y"
    expect(ctxs(net, 1)).toEqual(['x@2', 'y@2']);
  });
});

describe('lease-based reads (opt-in)', () => {
  it('serve without a heartbeat round while the lease holds, and fall back when it lapses', () => {
    const net = Network.of([1, 2, 3], { seed: 26, checkQuorum: true, readOnlyOption: 'leaseBased' });
    net.campaign(1);
    net.tickAll(1, [1, 2, 3]); // a heartbeat round acked by a quorum starts the lease
    const before = net.delivered.length;
    net.node(1).readIndex(bytes('lease'));
    net.stabilize();
    expect(ctxs(net, 1)).toEqual(['lease@2']);
    expect(net.delivered.slice(before)).toEqual([]); // no messages needed
    // Isolated, the lease runs out well before the followers' election timeout...
    net.isolate(1);
    net.tickAll(8, [1]);
    net.node(1).readIndex(bytes('late'));
    net.stabilize();
    expect(ctxs(net, 1)).toEqual(['lease@2']);
    // ...and before the followers may elect someone else.
    expect(net.node(2).electionElapsed).toBeLessThan(10);
  });

  // Followers that acked the lease restart and forget it. Unless they keep honouring it for an
  // election timeout, a new leader can commit while the old one still serves lease reads.
  function restartDuringLease(factory?: NodeFactory): { read: number | undefined; newCommit: number } {
    const net = Network.of([1, 2, 3], { seed: 27, checkQuorum: true, readOnlyOption: 'leaseBased' });
    net.campaign(1);
    net.tickAll(2, [1, 2, 3]);
    net.isolate(1);
    net.restart(2, factory);
    net.restart(3, factory);
    net.campaign(2);
    if (net.node(2).role === 'leader') net.propose(2, 'w');
    net.node(1).readIndex(bytes('old-leader'));
    net.stabilize();
    return { read: net.peer(1).readStates[0]?.index, newCommit: net.node(2).log.committed };
  }

  it('a restarted follower keeps honouring the lease for an election timeout', () => {
    const safe = restartDuringLease();
    expect(safe.read).toBe(2);
    expect(safe.newCommit).toBe(2); // node 2 could not win while the lease may hold
    class ForgetsLease extends RaftNode {
      constructor(c: RaftConfig) {
        super(c);
        this.restartLeaseGuard = false;
      }
    }
    const broken = restartDuringLease((c) => new ForgetsLease(c));
    expect(broken.newCommit).toBeGreaterThan(broken.read!); // stale read
  });

  it('requires checkQuorum', () => {
    expect(() => Network.of([1], { readOnlyOption: 'leaseBased' })).toThrow(/checkQuorum/);
  });
});
