import { describe, expect, it } from 'vitest';
import {
  MemoryStorage,
  decodeConfChange,
  encodeConfChange,
  type ConfChange,
  type ConfState,
  type NodeId,
} from '../../src/raft/index.js';
import { Network } from './harness.js';

const add = (nodeId: NodeId): ConfChange => ({ transition: 'auto', changes: [{ type: 'addVoter', nodeId }] });
const learner = (nodeId: NodeId): ConfChange => ({ transition: 'auto', changes: [{ type: 'addLearner', nodeId }] });
const remove = (nodeId: NodeId): ConfChange => ({ transition: 'auto', changes: [{ type: 'removeNode', nodeId }] });

function change(net: Network, at: NodeId, cc: ConfChange): void {
  net.node(at).proposeConfChange(cc);
  net.stabilize();
}

const voters = (cs: ConfState) => [...cs.voters].sort();

describe('membership changes', () => {
  it('learner: added empty, catches up via snapshot and log, does not vote or count; then promoted', () => {
    const net = Network.of([1, 2, 3], { seed: 41 });
    net.campaign(1);
    net.propose(1, 'a');
    net.add(4, new MemoryStorage());
    change(net, 1, learner(4));
    net.propose(1, 'b');
    const p4 = net.peer(4);
    expect(p4.restoredSnapshots).toBe(1); // the bootstrap snapshot carries the initial config
    expect(p4.applied).toEqual(['a', 'b']);
    expect(p4.conf.learners).toEqual([4]);
    expect(net.node(1).status().config.learners).toEqual([4]);
    // A learner never campaigns.
    net.tickAll(50, [4]);
    expect(net.node(4).role).toBe('follower');
    expect(net.delivered.filter((m) => m.from === 4 && (m.type === 'vote' || m.type === 'preVote'))).toEqual([]);
    // A learner's acknowledgement does not count toward commit.
    net.partition([1, 4], [2, 3]);
    net.propose(1, 'c');
    expect(net.peer(4).storage.lastIndex()).toBe(net.node(1).log.lastIndex());
    expect(net.node(1).log.committed).toBeLessThan(net.node(1).log.lastIndex());
    net.heal();
    net.tickAll(1, [1]);
    // Promotion.
    change(net, 1, add(4));
    expect(voters(net.node(1).status().config)).toEqual([1, 2, 3, 4]);
    expect(net.peer(4).conf.learners).toEqual([]);
    net.partition([1, 4, 2], [3]);
    net.propose(1, 'd'); // 3 of 4 voters
    expect(net.peer(4).applied).toEqual(['a', 'b', 'c', 'd']);
    net.checkSafety();
  });

  it('removing a follower: the leader stops replicating to it, quorum shrinks', () => {
    const net = Network.of([1, 2, 3], { seed: 42 });
    net.campaign(1);
    change(net, 1, remove(3));
    expect(voters(net.node(1).status().config)).toEqual([1, 2]);
    const before = net.delivered.length;
    net.propose(1, 'x');
    net.tickAll(3, [1]);
    expect(net.delivered.slice(before).filter((m) => m.to === 3)).toEqual([]);
    expect(net.peer(2).applied).toEqual(['x']);
    // The removed node cannot campaign for its old config.
    expect(net.node(3).promotable()).toBe(false);
  });

  it('removing the leader: it steps down once the change applies; the rest elect a leader', () => {
    const net = Network.of([1, 2, 3], { seed: 43 });
    net.campaign(1);
    change(net, 1, remove(1));
    expect(net.node(1).role).toBe('follower');
    expect(net.node(1).promotable()).toBe(false);
    for (let i = 0; i < 40 && net.leaders().length === 0; i++) net.tickAll(1, [2, 3]);
    const leader = net.leader();
    expect([2, 3]).toContain(leader);
    net.propose(leader, 'after');
    expect(net.peer(2).applied).toEqual(['after']);
    expect(net.peer(3).applied).toEqual(['after']);
  });

  it('membership change under partition: the new majority proceeds, the partitioned node catches up', () => {
    const net = Network.of([1, 2, 3], { seed: 44 });
    net.campaign(1);
    net.isolate(3);
    net.add(4, new MemoryStorage());
    net.cutLink(3, 4);
    change(net, 1, add(4)); // commits with 1 and 2 under the old config {1,2,3}
    expect(voters(net.node(1).status().config)).toEqual([1, 2, 3, 4]);
    // New config needs 3 of 4: 1, 2, 4.
    net.propose(1, 'with-4');
    expect(net.peer(4).applied).toEqual(['with-4']);
    expect(net.node(1).log.committed).toBe(net.node(1).log.lastIndex());
    net.heal();
    net.tickAll(1, [1]);
    expect(voters(net.peer(3).conf)).toEqual([1, 2, 3, 4]);
    expect(net.peer(3).applied).toEqual(['with-4']);
    net.checkSafety();
  });

  it('joint consensus: replacing a voter goes through C(old,new) and leaves it automatically', () => {
    const net = Network.of([1, 2, 3], { seed: 45 });
    net.campaign(1);
    net.add(4, new MemoryStorage());
    const seen: ConfState[] = [];
    const p1 = net.peer(1);
    const orig = p1.node.applyConfChange.bind(p1.node);
    p1.node.applyConfChange = (cc) => {
      const cs = orig(cc);
      seen.push(cs);
      return cs;
    };
    change(net, 1, {
      transition: 'auto',
      changes: [
        { type: 'addVoter', nodeId: 4 },
        { type: 'removeNode', nodeId: 3 },
      ],
    });
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatchObject({ voters: [1, 2, 4], votersOutgoing: [1, 2, 3], autoLeave: true });
    expect(seen[1]).toMatchObject({ voters: [1, 2, 4], votersOutgoing: [], autoLeave: false });
    for (const id of [1, 2, 4]) expect(net.peer(id).conf.voters).toEqual([1, 2, 4]);
    net.propose(1, 'new-config');
    expect(net.peer(4).applied).toEqual(['new-config']);
  });

  it('joint consensus needs both majorities while joint', () => {
    const net = Network.of([1, 2, 3], { seed: 46 });
    net.campaign(1);
    for (const id of [4, 5]) net.add(id, new MemoryStorage());
    change(net, 1, {
      transition: 'jointExplicit', // stay joint until told
      changes: [
        { type: 'addVoter', nodeId: 4 },
        { type: 'addVoter', nodeId: 5 },
        { type: 'removeNode', nodeId: 2 },
        { type: 'removeNode', nodeId: 3 },
      ],
    });
    expect(net.node(1).status().config).toMatchObject({ voters: [1, 4, 5], votersOutgoing: [1, 2, 3] });
    // New majority (1, 4, 5) alone is not enough: old majority needs 2 of {1,2,3}.
    net.partition([1, 4, 5], [2, 3]);
    net.propose(1, 'x');
    expect(net.node(1).log.committed).toBeLessThan(net.node(1).log.lastIndex());
    net.heal();
    net.tickAll(1, [1]);
    expect(net.node(1).log.committed).toBe(net.node(1).log.lastIndex());
    change(net, 1, { transition: 'auto', changes: [] }); // leave joint
    expect(net.node(1).status().config).toMatchObject({ voters: [1, 4, 5], votersOutgoing: [] });
  });

  it('only one conf change may be pending, and invalid ones are refused', () => {
    const net = Network.of([1, 2, 3], { seed: 47 });
    net.campaign(1);
    net.isolate(2);
    net.isolate(3);
    net.node(1).proposeConfChange(remove(3));
    expect(() => net.node(1).proposeConfChange(remove(2))).toThrow(/confChangePending/);
    net.heal();
    net.tickAll(1, [1]);
    expect(() => net.node(1).proposeConfChange({ transition: 'auto', changes: [] })).toThrow(/invalidConfChange/);
    expect(() => net.node(1).proposeConfChange(remove(1))).not.toThrow();
  });

  it('conf changes round-trip through their entry encoding', () => {
    const cc: ConfChange = {
      transition: 'jointExplicit',
      changes: [
        { type: 'addVoter', nodeId: 2 ** 40 + 3 },
        { type: 'addLearner', nodeId: 7 },
        { type: 'removeNode', nodeId: 1 },
      ],
      context: new Uint8Array([1, 2, 3]),
    };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    expect(decodeConfChange(encodeConfChange({ transition: 'auto', changes: [] }))).toEqual({
      transition: 'auto',
      changes: [],
    });
    expect(() => decodeConfChange(new Uint8Array([9, 9, 9]))).toThrow(/undecodable/);
  });
});
