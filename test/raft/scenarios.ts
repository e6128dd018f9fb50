// Scenarios shared by several test files.
import { Network, storageWithLog, type NodeFactory } from './harness.js';

/** Figure 8 of the paper, as a scenario; returns the network at the end. */
export function figure8(factory?: NodeFactory): Network {
  // (c) in the figure: index 2 of term 2 is on S1-S3, S5 holds index 2 of term 3 from its
  // short reign in term 3. S1 is about to lead term 4.
  const voters = [1, 2, 3, 4, 5];
  const net = new Network({ seed: 16, factory });
  net.add(1, storageWithLog(voters, [1, 2], 3));
  net.add(2, storageWithLog(voters, [1, 2], 3));
  net.add(3, storageWithLog(voters, [1, 2], 3));
  net.add(4, storageWithLog(voters, [1], 3));
  net.add(5, storageWithLog(voters, [1, 3], 3));
  // S1's term-4 entries never reach anyone: followers can only acknowledge index 2. S5 is
  // down while S1 leads.
  net.filter = (m) => {
    if (m.from === 1 && m.type === 'app') m.entries = m.entries.filter((e) => e.term < 4);
    return true;
  };
  net.cutLink(1, 5);
  net.campaign(1); // votes from S2, S3, S4
  if (net.node(1).role !== 'leader') throw new Error('S1 should lead term 4');
  // (d): S1 crashes; S5 is elected (its last term 3 beats term 2) and overwrites index 2.
  net.isolate(1);
  net.campaign(5); // term 4: everyone already voted for S1 in term 4
  net.campaign(5); // term 5
  if (net.node(5).role !== 'leader') throw new Error('S5 should lead term 5');
  net.recover();
  net.tickAll(1, [5]);
  return net;
}

