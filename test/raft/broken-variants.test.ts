import { describe, expect, it } from 'vitest';
import { brokenFactories } from './broken-variants.js';
import { Network, bytes, type NodeFactory } from './harness.js';
import { figure8 } from './scenarios.js';

// Each broken variant must be caught by the same checks that pass for the real node.

function rejoinPartitionedLeader(factory?: NodeFactory): Network {
  const net = Network.of([1, 2, 3, 4, 5], { seed: 61, factory });
  net.campaign(1);
  net.propose(1, 'committed');
  net.isolate(1);
  net.propose(1, 'orphan1');
  net.propose(1, 'orphan2');
  net.campaign(2);
  net.propose(2, 'new');
  net.heal();
  net.tickAll(2, [2]);
  return net;
}

function staleRead(factory?: NodeFactory): { readIndex: number | undefined; writeIndex: number } {
  const net = Network.of([1, 2, 3], { seed: 62, factory });
  net.campaign(1);
  net.propose(1, 'a');
  net.isolate(1);
  net.campaign(2);
  net.propose(2, 'b'); // completes before the read below starts
  const writeIndex = net.node(2).log.committed;
  net.node(1).readIndex(bytes('r'));
  net.tickAll(5, [1]);
  return { readIndex: net.peer(1).readStates[0]?.index, writeIndex };
}

describe('broken variants are detectable', () => {
  it('commit counting an old-term entry (Figure 8) loses a committed entry', () => {
    expect(() => figure8()).not.toThrow();
    expect(() => {
      const net = figure8(brokenFactories.commitsOldTermEntries);
      net.checkSafety();
    }).toThrow(/conflicts with committed|differ/);
  });

  it('a follower not truncating a conflicting suffix diverges', () => {
    rejoinPartitionedLeader().checkSafety();
    const broken = rejoinPartitionedLeader(brokenFactories.keepsConflictingSuffix);
    expect(broken.peer(1).applied).toContain('orphan1');
    expect(() => broken.checkSafety()).toThrow(/differ/);
  });

  it('a leader answering reads without ReadIndex returns stale data', () => {
    expect(staleRead().readIndex).toBeUndefined();
    const broken = staleRead(brokenFactories.readsWithoutReadIndex);
    expect(broken.readIndex).toBeDefined();
    expect(broken.readIndex!).toBeLessThan(broken.writeIndex);
  });
});
