import { describe, expect, it } from 'vitest';
import { message, type NodeId } from '../../src/raft/index.js';
import { Network } from './harness.js';

function tickUntilLeader(net: Network, ids: NodeId[], max = 100): NodeId {
  for (let i = 0; i < max; i++) {
    net.tickAll(1, ids);
    const leaders = ids.filter((id) => net.node(id).role === 'leader');
    if (leaders.length > 0) {
      expect(leaders).toHaveLength(1);
      return leaders[0]!;
    }
  }
  throw new Error('no leader elected');
}

describe('leader election (paper 5.2)', () => {
  it('initial election: exactly one leader, everyone follows it in the same term', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const net = Network.of([1, 2, 3, 4, 5], { seed });
      const leader = tickUntilLeader(net, [1, 2, 3, 4, 5]);
      const term = net.node(leader).term;
      for (const id of [1, 2, 3, 4, 5]) {
        const n = net.node(id);
        expect(n.term).toBe(term);
        expect(n.lead).toBe(leader);
        if (id !== leader) expect(n.role).toBe('follower');
      }
      // The new leader's empty entry commits everywhere.
      for (const id of [1, 2, 3, 4, 5]) expect(net.node(id).log.committed).toBe(2);
    }
  });

  it("a candidate's vote requests wait until its term and self-vote are durable", () => {
    const net = Network.of([1, 2, 3], { seed: 19, preVote: true });
    net.node(1).campaign();
    const pre = net.node(1).ready(); // pre-vote: nothing to persist, requests go out at once
    expect(pre.softState?.role).toBe('preCandidate');
    expect(pre.mustSync).toBe(false);
    expect(pre.messages.map((m) => m.type)).toEqual(['preVote', 'preVote']);
    expect(pre.messagesAfterPersist).toEqual([]);
    net.node(1).advance(pre);
    net.node(1).step({ ...pre.messages[0]!, type: 'preVoteResp', from: 2, to: 1, reject: false });
    const rd = net.node(1).ready();
    expect(rd.softState?.role).toBe('candidate');
    expect(rd.hardState).toEqual({ term: 2, vote: 1, commit: 1 });
    expect(rd.mustSync).toBe(true);
    expect(rd.messages).toEqual([]);
    expect(rd.messagesAfterPersist.map((m) => `${m.type}->${m.to}@${m.term}`)).toEqual(['vote->2@2', 'vote->3@2']);
  });

  it('randomized timeouts are within [electionTick, 2 * electionTick)', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) seen.add(Network.of([1, 2], { seed }).node(1).randomizedElectionTimeout);
    for (const t of seen) expect(t >= 10 && t < 20).toBe(true);
    expect(seen.size).toBeGreaterThan(3);
  });

  it('re-election after leader failure, and the old leader steps down when it returns', () => {
    const net = Network.of([1, 2, 3], { seed: 3 });
    net.campaign(1);
    net.propose(1, 'a');
    net.isolate(1);
    const leader = tickUntilLeader(net, [2, 3]);
    expect(leader).not.toBe(1);
    expect(net.node(leader).term).toBe(3);
    // Without check-quorum the isolated node still believes it leads term 2.
    expect(net.node(1).role).toBe('leader');
    net.propose(leader, 'b');
    net.heal();
    net.tickAll(1, [leader]); // heartbeat from the new leader reaches node 1
    expect(net.node(1).role).toBe('follower');
    expect(net.node(1).term).toBe(3);
    expect(net.node(1).lead).toBe(leader);
    for (const id of [1, 2, 3]) expect(net.peer(id).applied).toEqual(['a', 'b']);
  });

  it('no agreement without a majority', () => {
    const net = Network.of([1, 2, 3, 4, 5], { seed: 4 });
    net.campaign(1);
    net.partition([1, 2], [3, 4, 5]);
    // The minority leader appends but cannot commit.
    net.propose(1, 'lost');
    expect(net.node(1).log.committed).toBe(2);
    expect(net.node(1).log.lastIndex()).toBe(3);
    // A minority candidate cannot win either.
    const quiet = Network.of([1, 2, 3, 4, 5], { seed: 4 });
    quiet.partition([1, 2], [3, 4, 5]);
    quiet.campaign(1);
    expect(quiet.node(1).role).toBe('candidate');
    quiet.tickAll(40, [1, 2]);
    expect(quiet.leaders()).toEqual([]);
    // The majority side elects and commits.
    const leader = tickUntilLeader(net, [3, 4, 5]);
    net.propose(leader, 'kept');
    expect(net.peer(leader).applied).toEqual(['kept']);
    expect(net.peer(1).applied).toEqual([]);
  });

  it('a candidate with an out-of-date log cannot win (election restriction 5.4.1)', () => {
    const net = Network.of([1, 2, 3], { seed: 5 });
    net.campaign(1);
    net.isolate(3);
    net.propose(1, 'a'); // on 1 and 2 only
    net.heal();
    net.isolate(1);
    net.campaign(3);
    expect(net.node(3).role).not.toBe('leader');
    net.campaign(2);
    expect(net.node(2).role).toBe('leader');
    expect(net.peer(3).applied).toEqual(['a']);
  });

  it('pre-vote: a partitioned node does not inflate its term or disrupt the leader on return', () => {
    const net = Network.of([1, 2, 3], { seed: 6, preVote: true });
    net.campaign(1);
    const term = net.node(1).term;
    net.isolate(3);
    net.tickAll(100, [3]);
    expect(net.node(3).term).toBe(term);
    expect(net.node(3).role).toBe('preCandidate');
    net.heal();
    net.tickAll(1, [1]);
    expect(net.node(1).role).toBe('leader');
    expect(net.node(1).term).toBe(term);
    expect(net.node(3).role).toBe('follower');
    expect(net.node(3).lead).toBe(1);
  });

  it('without pre-vote the same partitioned node disrupts the leader (contrast)', () => {
    const net = Network.of([1, 2, 3], { seed: 6 });
    net.campaign(1);
    const term = net.node(1).term;
    net.isolate(3);
    net.tickAll(100, [3]);
    expect(net.node(3).term).toBeGreaterThan(term + 2);
    net.heal();
    net.tickAll(20, [3]); // node 3's next higher-term vote request deposes the leader
    expect(net.node(1).term).toBeGreaterThan(term + 2);
    expect(net.node(1).role).not.toBe('leader');
  });

  it('check-quorum: a leader cut off from the quorum steps down after an election timeout', () => {
    const net = Network.of([1, 2, 3], { seed: 7, checkQuorum: true });
    net.campaign(1);
    net.tickAll(10, [1, 2, 3]);
    expect(net.node(1).role).toBe('leader'); // in contact: stays
    net.isolate(1);
    net.tickAll(9, [1]);
    expect(net.node(1).role).toBe('leader');
    net.tickAll(11, [1]);
    expect(net.node(1).role).toBe('follower');
    expect(net.node(1).lead).toBe(0);
  });

  it('leader lease: followers that heard from a leader ignore higher-term votes', () => {
    const net = Network.of([1, 2, 3], { seed: 8, checkQuorum: true });
    net.campaign(1);
    const term = net.node(1).term;
    const last = net.node(2).log.lastIndex();
    const vote = message({ type: 'vote', from: 3, to: 2, term: term + 5, index: last + 10, logTerm: term });
    net.send([vote]);
    expect(net.node(2).term).toBe(term);
    expect(net.node(2).vote).toBe(1);
    expect(net.delivered.filter((m) => m.type === 'voteResp' && m.to === 3)).toEqual([]);
    // After an election timeout without hearing from the leader the vote is considered.
    net.isolate(1);
    net.tickAll(10, [2]);
    net.send([{ ...vote, term: term + 6 }]);
    expect(net.node(2).term).toBe(term + 6);
    expect(net.node(2).vote).toBe(3);
  });

  it('leader lease does not trap a stuck candidate: its term reaches the cluster via heartbeat replies', () => {
    const net = Network.of([1, 2, 3], { seed: 10, checkQuorum: true });
    net.campaign(1);
    net.isolate(3);
    net.tickAll(40, [3]);
    const stuckTerm = net.node(3).term;
    expect(net.node(3).role).toBe('candidate');
    net.heal();
    net.tickAll(1, [1]);
    expect(net.node(1).role).toBe('follower');
    expect(net.node(1).term).toBe(stuckTerm);
    const leader = tickUntilLeader(net, [1, 2, 3]);
    for (const id of [1, 2, 3]) expect(net.node(id).lead).toBe(leader);
  });
});
