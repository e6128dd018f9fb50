import { describe, expect, it } from 'vitest';
import { Network, logTerms } from './harness.js';

describe('snapshots and log compaction (paper 7)', () => {
  function lagging(seed: number): Network {
    const net = Network.of([1, 2, 3], { seed });
    net.campaign(1);
    net.isolate(3);
    for (let i = 0; i < 10; i++) net.propose(1, `v${i}`);
    // Every node that has applied the entries compacts its log.
    for (const id of [1, 2]) net.peer(id).snapshotAndCompact();
    expect(net.peer(1).storage.firstIndex()).toBe(13);
    return net;
  }

  it('snapshot install to a lagging follower: InstallSnapshot brings it up to date', () => {
    const net = lagging(31);
    net.heal();
    net.tickAll(1, [1]);
    const snaps = net.delivered.filter((m) => m.type === 'snap');
    expect(snaps).toHaveLength(1);
    expect(snaps[0]!.snapshot!.meta.index).toBe(12);
    const p3 = net.peer(3);
    expect(p3.restoredSnapshots).toBe(1);
    expect(p3.storage.firstIndex()).toBe(13);
    expect(p3.applied).toEqual(net.peer(1).applied);
    expect(net.node(1).status().progress!.get(3)!.state).toBe('replicate');
    // Replication continues normally after the snapshot.
    net.propose(1, 'after');
    expect(p3.applied.at(-1)).toBe('after');
    expect(logTerms(p3.storage)).toEqual(logTerms(net.peer(1).storage));
    net.checkSafety();
  });

  it('snapshot install to a crashed follower: it restarts behind the compacted log and gets a snapshot', () => {
    const net = Network.of([1, 2, 3], { seed: 35 });
    net.campaign(1);
    net.propose(1, 'before');
    // Node 3 crashes: it neither ticks nor receives while the others move on and compact.
    net.isolate(3);
    for (let i = 0; i < 10; i++) net.propose(1, `v${i}`);
    for (const id of [1, 2]) net.peer(id).snapshotAndCompact();
    expect(net.peer(3).applied).toEqual(['before']);
    // It restarts from what it persisted; the entries it lacks exist only in the snapshot.
    const p3 = net.restart(3);
    expect(p3.applied).toEqual([]);
    net.heal();
    net.tickAll(1, [1]);
    expect(net.delivered.filter((m) => m.type === 'snap' && m.to === 3)).toHaveLength(1);
    expect(p3.restoredSnapshots).toBe(1);
    expect(p3.applied).toEqual(net.peer(1).applied);
    net.propose(1, 'after');
    expect(p3.applied.at(-1)).toBe('after');
    expect(logTerms(p3.storage)).toEqual(logTerms(net.peer(1).storage));
    net.checkSafety();
  });

  it('a failed snapshot transfer is retried after the follower shows up again', () => {
    const net = lagging(32);
    net.heal();
    let lost = 0;
    net.filter = (m) => !(m.type === 'snap' && lost++ === 0); // first transfer fails
    net.tickAll(1, [1]);
    expect(net.peer(3).restoredSnapshots).toBe(0);
    expect(net.node(1).status().progress!.get(3)!.state).toBe('probe');
    net.tickAll(2, [1]);
    expect(net.peer(3).restoredSnapshots).toBe(1);
    expect(net.peer(3).applied).toEqual(net.peer(1).applied);
  });

  it('a follower that already has the snapshot index only fast-forwards its commit', () => {
    const net = Network.of([1, 2, 3], { seed: 33 });
    net.campaign(1);
    net.propose(1, 'a');
    const snap = net.peer(1).snapshotAndCompact();
    const before = net.node(2).log.lastIndex();
    net.send([
      {
        type: 'snap', from: 1, to: 2, term: net.node(1).term, logTerm: 0, index: 0, entries: [],
        commit: 0, reject: false, rejectHint: 0, snapshot: snap,
      },
    ]);
    expect(net.peer(2).restoredSnapshots).toBe(0);
    expect(net.node(2).log.lastIndex()).toBe(before);
  });

  it('a restarted node rebuilds its state from its snapshot and log', () => {
    const net = Network.of([1, 2, 3], { seed: 34 });
    net.campaign(1);
    for (let i = 0; i < 5; i++) net.propose(1, `v${i}`);
    net.peer(2).snapshotAndCompact();
    net.propose(1, 'tail');
    const restarted = net.restart(2);
    expect(restarted.applied).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
    net.stabilize();
    net.tickAll(1, [1]);
    expect(restarted.applied).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'tail']);
    expect(restarted.node.term).toBe(net.node(1).term);
  });
});
