import { describe, expect, it } from 'vitest';
import { message, type NodeId, type RaftConfig, RaftNode } from '../../src/raft/index.js';
import { Network, logTerms, storageWithLog } from './harness.js';
import { figure8 } from './scenarios.js';

describe('log replication (paper 5.3)', () => {
  it('replicates proposals in order and commits them everywhere, from leader or follower', () => {
    const net = Network.of([1, 2, 3], { seed: 11 });
    net.campaign(1);
    for (let i = 0; i < 10; i++) net.propose(i % 2 === 0 ? 1 : 2, `v${i}`); // 2 forwards to 1
    const want = Array.from({ length: 10 }, (_, i) => `v${i}`);
    for (const id of [1, 2, 3]) expect(net.peer(id).applied).toEqual(want);
    for (const id of [2, 3]) expect(logTerms(net.peer(id).storage)).toEqual(logTerms(net.peer(1).storage));
  });

  it('a proposal at a follower without a leader is dropped with a reason', () => {
    const net = Network.of([1, 2, 3], { seed: 12 });
    expect(() => net.node(2).propose(new Uint8Array([1]))).toThrow(/noLeader/);
    const nf = Network.of([1, 2, 3], { seed: 12, disableProposalForwarding: true });
    nf.campaign(1);
    expect(() => nf.node(2).propose(new Uint8Array([1]))).toThrow(/forwardingDisabled/);
  });

  it('rejoin of a partitioned leader: it steps down and its uncommitted entries are overwritten', () => {
    const net = Network.of([1, 2, 3, 4, 5], { seed: 13 });
    net.campaign(1);
    net.propose(1, 'committed');
    net.isolate(1);
    net.propose(1, 'orphan1');
    net.propose(1, 'orphan2');
    expect(net.node(1).log.lastIndex()).toBe(5);
    net.campaign(2);
    net.propose(2, 'new');
    net.heal();
    net.tickAll(1, [2]);
    expect(net.node(1).role).toBe('follower');
    expect(net.node(1).lead).toBe(2);
    for (const id of [1, 2, 3, 4, 5]) {
      expect(net.peer(id).applied).toEqual(['committed', 'new']);
      expect(logTerms(net.peer(id).storage)).toEqual(logTerms(net.peer(2).storage));
    }
    net.checkSafety();
  });

  // Figure 7 of the paper: a leader for term 8 and followers with missing, extra and divergent
  // entries. The leader must bring each to exactly its own log, using the conflict-term hints
  // to skip a whole term per round trip.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, log] of Object.entries(followers)) {
    it(`backup over divergent logs: Figure 7 follower (${name})`, () => {
      const net = new Network({ seed: 14 });
      net.add(1, storageWithLog([1, 2, 3], leaderLog, 7));
      net.add(2, storageWithLog([1, 2, 3], log, Math.max(...log)));
      net.add(3, storageWithLog([1, 2, 3], leaderLog, 7));
      net.campaign(1);
      expect(net.node(1).role).toBe('leader');
      expect(net.node(1).term).toBe(8);
      expect(logTerms(net.peer(2).storage)).toEqual([...leaderLog, 8]);
      const rejections = net.delivered.filter((m) => m.type === 'appResp' && m.from === 2 && m.reject).length;
      expect(rejections).toBeLessThanOrEqual(2);
      expect(net.node(2).log.committed).toBe(11);
    });
  }

  it('fast backtracking needs far fewer round trips than one per entry', () => {
    // The follower has 50 entries of a stale term after the common prefix.
    const leader = [1, 1, ...Array<number>(50).fill(3)];
    const stale = [1, 1, ...Array<number>(60).fill(2)];
    const net = new Network({ seed: 15 });
    net.add(1, storageWithLog([1, 2, 3], leader, 3));
    net.add(2, storageWithLog([1, 2, 3], stale, 3));
    net.add(3, storageWithLog([1, 2, 3], leader, 3));
    net.campaign(1);
    expect(logTerms(net.peer(2).storage)).toEqual([...leader, 4]);
    const rejections = net.delivered.filter((m) => m.type === 'appResp' && m.from === 2 && m.reject).length;
    expect(rejections).toBeLessThanOrEqual(2);
  });
});

describe('Figure 8: committing entries from previous terms (paper 5.4.2)', () => {
  it('a leader does not commit an old-term entry by counting replicas', () => {
    const net = new Network({ seed: 16 });
    const voters = [1, 2, 3, 4, 5];
    net.add(1, storageWithLog(voters, [1, 2], 3));
    net.add(2, storageWithLog(voters, [1, 2], 3));
    net.add(3, storageWithLog(voters, [1, 2], 3));
    net.add(4, storageWithLog(voters, [1], 3));
    net.add(5, storageWithLog(voters, [1, 3], 3));
    net.filter = (m) => {
      if (m.from === 1 && m.type === 'app') m.entries = m.entries.filter((e) => e.term < 4);
      return true;
    };
    net.cutLink(1, 5);
    net.campaign(1);
    const status = net.node(1).status();
    // A majority (S1, S2, S3) stores index 2, yet it is not committed: its term is 2, not 4.
    expect(status.progress!.get(2)!.match).toBe(2);
    expect(status.progress!.get(3)!.match).toBe(2);
    expect(net.node(1).log.committed).toBe(0);
    // Once the term-4 entry reaches a majority, it commits, and index 2 with it.
    net.recover();
    net.tickAll(1, [1]);
    expect(net.node(1).log.committed).toBe(3);
  });

  it('the full Figure 8 run stays safe: S5 overwrites index 2 and every node agrees', () => {
    const net = figure8();
    for (const id of [1, 2, 3, 4, 5]) {
      expect(net.peer(id).applied).toEqual(['t1i1', 't3i2']);
      expect(logTerms(net.peer(id).storage)).toEqual([1, 3, 5]);
    }
    net.checkSafety();
  });
});

describe('flow control and batching', () => {
  function leaderWithLaggingFollower(extra: Partial<RaftConfig>): Network {
    const net = Network.of([1, 2], { seed: 17, ...extra });
    net.campaign(1);
    return net;
  }

  it('maxSizePerMsg 0 sends one entry per append; a larger limit batches', () => {
    for (const [maxSizePerMsg, perMsg] of [
      [0, 1],
      [3 * (16 + 10), 3],
    ] as const) {
      const net = leaderWithLaggingFollower({ maxSizePerMsg });
      net.cutLink(1, 2);
      for (let i = 0; i < 9; i++) net.propose(1, `payload-${i}`.padEnd(10, '.'));
      net.heal();
      const before = net.delivered.length;
      net.tickAll(1, [1]); // heartbeat -> follower behind -> leader resends
      const apps = net.delivered.slice(before).filter((m) => m.type === 'app' && m.entries.length > 0);
      expect(apps.length).toBeGreaterThan(0);
      for (const m of apps) expect(m.entries.length).toBeLessThanOrEqual(perMsg);
      expect(Math.max(...apps.map((m) => m.entries.length))).toBe(perMsg);
      expect(net.peer(2).applied).toHaveLength(9);
    }
  });

  it('replicate state pipelines up to maxInflightMsgs appends, then pauses until acks', () => {
    const net = leaderWithLaggingFollower({ maxInflightMsgs: 3, maxSizePerMsg: 0 });
    net.ignore('appResp'); // acks are lost: the window fills
    const start = net.delivered.length;
    for (let i = 0; i < 8; i++) net.propose(1, `p${i}`);
    const pr = net.node(1).status().progress!.get(2)!;
    expect(pr.state).toBe('replicate');
    expect(pr.inflight).toBe(3);
    const appsTo2 = () => net.delivered.slice(start).filter((m) => m.type === 'app' && m.to === 2 && m.entries.length > 0);
    expect(appsTo2()).toHaveLength(3);
    // A heartbeat reply frees one slot, so exactly one more append goes out.
    net.tickAll(1, [1]);
    expect(appsTo2()).toHaveLength(4);
    // Acks flow again: the follower catches up.
    net.recover();
    net.tickAll(2, [1]);
    expect(net.peer(2).applied).toHaveLength(8);
    expect(net.node(1).status().progress!.get(2)!.inflight).toBe(0);
  });

  it('probe state sends one append at a time until the follower answers', () => {
    const net = leaderWithLaggingFollower({ maxSizePerMsg: 0 });
    net.isolate(2);
    const start = net.delivered.length;
    for (let i = 0; i < 4; i++) net.propose(1, `p${i}`);
    net.node(1).reportUnreachable(2); // replicate -> probe
    expect(net.node(1).status().progress!.get(2)!.state).toBe('probe');
    net.tickAll(1, [1]); // heartbeat lost too: still one probe at most
    expect(net.delivered.slice(start).filter((m) => m.to === 2)).toHaveLength(0); // all cut
    net.heal();
    net.ignore('appResp');
    const before = net.delivered.length;
    net.tickAll(1, [1]); // heartbeat resp unpauses the probe: exactly one append goes out
    const sent = net.delivered.slice(before).filter((m) => m.type === 'app' && m.to === 2);
    expect(sent).toHaveLength(1);
    net.recover();
    net.tickAll(1, [1]);
    expect(net.peer(2).applied).toHaveLength(4);
    expect(net.node(1).status().progress!.get(2)!.state).toBe('replicate');
  });

  it('a stale rejection does not move the follower backwards', () => {
    const net = leaderWithLaggingFollower({});
    net.propose(1, 'a');
    net.propose(1, 'b');
    const pr = () => net.node(1).status().progress!.get(2)!;
    const { match, next } = pr();
    expect(match).toBe(4);
    net.send([message({ type: 'appResp', from: 2, to: 1, term: 2, index: 2, reject: true, rejectHint: 1 })]);
    expect(pr().match).toBe(match);
    expect(pr().next).toBe(next);
    expect(pr().state).toBe('replicate');
  });

  it('the leader counts its own entries only after the host persisted them', () => {
    const node = new RaftNode({
      id: 1,
      storage: storageWithLog([1], [], 0),
      electionTick: 10,
      heartbeatTick: 1,
      random: () => 0.5,
    });
    node.campaign();
    expect(node.role).toBe('leader');
    const rd = node.ready();
    expect(rd.entries).toHaveLength(1);
    expect(rd.committedEntries).toHaveLength(0);
    expect(node.log.committed).toBe(0);
    // Host persists, then advances: now a quorum (itself) has the entry.
    (node.log.storage as ReturnType<typeof storageWithLog>).append(rd.entries);
    node.advance(rd);
    expect(node.log.committed).toBe(1);
    const rd2 = node.ready();
    expect(rd2.committedEntries.map((e) => e.index)).toEqual([1]);
    expect(rd2.hardState?.commit).toBe(1);
  });

  it('followers put append responses in messagesAfterPersist; leader appends go out at once', () => {
    const ids: NodeId[] = [1, 2];
    const net = Network.of(ids, { seed: 18 });
    net.campaign(1);
    net.node(1).propose(new Uint8Array([7]));
    const rd = net.node(1).ready();
    expect(rd.messages.some((m) => m.type === 'app' && m.entries.length === 1)).toBe(true);
    expect(rd.messagesAfterPersist).toEqual([]);
    net.peer(1).storage.append(rd.entries);
    net.node(1).advance(rd);
    const app = rd.messages.find((m) => m.type === 'app')!;
    net.node(2).step(app);
    const frd = net.node(2).ready();
    expect(frd.entries).toHaveLength(1);
    expect(frd.mustSync).toBe(true);
    expect(frd.messages.filter((m) => m.type === 'appResp')).toEqual([]);
    expect(frd.messagesAfterPersist.map((m) => m.type)).toEqual(['appResp']);
  });
});

describe('commit notices (Message.commitOnly)', () => {
  it('a follower does not answer a commit notice for an index it has acknowledged', () => {
    const net = Network.of([1, 2, 3], { seed: 21 });
    net.campaign(1);
    const start = net.delivered.length;
    net.propose(1, 'x');
    const sent = net.delivered.slice(start);
    const notices = sent.filter((m) => m.type === 'app' && m.commitOnly === true);
    expect(notices.map((m) => m.to).sort()).toEqual([2, 3]);
    expect(notices.every((m) => m.entries.length === 0 && m.commit === m.index)).toBe(true);
    // One acknowledgement per follower: for the entry, none for the notice.
    expect(sent.filter((m) => m.type === 'appResp').map((m) => m.from).sort()).toEqual([2, 3]);
    for (const id of [1, 2, 3]) expect(net.peer(id).applied).toEqual(['x']);
  });

  it('a follower answers a commit notice for an index it has not acknowledged in this term', () => {
    const node = new RaftNode({ id: 2, storage: storageWithLog([1, 2], [1, 1, 1], 1), electionTick: 10, heartbeatTick: 1, random: () => 0.5 });
    const notice = message({ type: 'app', from: 1, to: 2, term: 2, index: 3, logTerm: 1, commit: 3, commitOnly: true });
    node.step(notice);
    const rd = node.ready();
    expect(rd.messagesAfterPersist.map((m) => [m.type, m.index])).toEqual([['appResp', 3]]);
    (node.log.storage as ReturnType<typeof storageWithLog>).setHardState(rd.hardState!);
    node.advance(rd);
    node.step({ ...notice });
    expect(node.hasReady() ? node.ready().messagesAfterPersist : []).toEqual([]);
    // The same append without the flag (a heartbeat-triggered one) is answered again.
    const plain = { ...notice };
    delete plain.commitOnly;
    node.step(plain);
    expect(node.ready().messagesAfterPersist.map((m) => [m.type, m.index])).toEqual([['appResp', 3]]);
  });

  it('the leader marks only appends without entries to followers in replicate state', () => {
    const net = Network.of([1, 2, 3], { seed: 22 });
    net.campaign(1);
    net.node(1).reportUnreachable(2); // replicate -> probe
    const before = net.delivered.length;
    net.propose(1, 'b');
    const sent = net.delivered.slice(before);
    const marked = sent.filter((m) => m.commitOnly === true);
    expect(marked.length).toBeGreaterThan(0);
    expect(marked.every((m) => m.type === 'app' && m.entries.length === 0)).toBe(true);
    // The probe to 2 carries the entry and is not marked; 2 is back in replicate before its notice.
    const probe = sent.find((m) => m.type === 'app' && m.to === 2);
    expect(probe?.entries.length).toBe(1);
    expect(probe?.commitOnly).toBeUndefined();
    net.tickAll(2, [1]);
    for (const id of [1, 2, 3]) expect(net.peer(id).applied).toEqual(['b']);
  });

  it('a lost acknowledgement is recovered through heartbeats, which never send notices', () => {
    const net = Network.of([1, 2], { seed: 23 });
    net.campaign(1);
    let drop = true;
    net.filter = (m) => {
      if (drop && m.type === 'appResp' && m.from === 2) {
        drop = false;
        return false;
      }
      return true;
    };
    net.propose(1, 'lost-ack');
    expect(net.node(1).log.committed).toBeLessThan(net.node(1).log.lastIndex());
    net.tickAll(1, [1]); // heartbeat -> response -> append (not a notice) -> acknowledged
    expect(net.node(1).log.committed).toBe(net.node(1).log.lastIndex());
    net.tickAll(1, [1]);
    expect(net.peer(2).applied).toEqual(['lost-ack']);
  });
});
