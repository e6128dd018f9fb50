import { MemoryStorage, ProposalDroppedError, type NodeId } from '../../src/raft/index.js';
import { Network, bytes, seededRandom, type NodeFactory } from './harness.js';

// A seeded random walk over faults (partitions, message loss, crash-restarts, snapshots,
// transfers, membership changes) checking the Raft safety properties after every step. Each
// failure names its seed. The simulator in src/raft/sim goes much further; this keeps the
// core's own tests honest.

interface Observed {
  leaderOfTerm: Map<number, NodeId>;
  /** Entry term of every committed index. */
  committedTerm: Map<number, number>;
  /** A term by which the index was known committed (the observer's term): an upper bound. */
  committedBy: Map<number, number>;
}

function checkReads(net: Network, floors: Map<string, number>): void {
  for (const p of net.peers.values()) {
    for (const rs of p.readStates) {
      const ctx = new TextDecoder().decode(rs.context);
      const floor = floors.get(ctx);
      if (floor !== undefined && rs.index < floor) {
        throw new Error(`stale read ${ctx} on ${p.id}: index ${rs.index} < ${floor} committed before it began`);
      }
    }
  }
}

export function checkInvariants(net: Network, seen: Observed): void {
  for (const p of net.peers.values()) {
    const n = p.node;
    if (n.role === 'leader') {
      const prev = seen.leaderOfTerm.get(n.term);
      if (prev !== undefined && prev !== n.id) throw new Error(`two leaders in term ${n.term}: ${prev}, ${n.id}`);
      seen.leaderOfTerm.set(n.term, n.id);
    }
  }
  // Committed entries never change (state-machine safety at the log level) ...
  for (const p of net.peers.values()) {
    const log = p.node.log;
    for (let i = Math.max(log.firstIndex(), 1); i <= log.committed; i++) {
      const t = log.term(i);
      const known = seen.committedTerm.get(i);
      if (known === undefined) {
        seen.committedTerm.set(i, t);
        seen.committedBy.set(i, p.node.term);
      } else if (known !== t) throw new Error(`committed entry ${i} changed term ${known} -> ${t} on ${p.id}`);
    }
  }
  // ... and every leader of a later term holds all of them (leader completeness). A stale
  // leader of an older term that has not heard the news yet need not.
  for (const p of net.peers.values()) {
    if (p.node.role !== 'leader') continue;
    const log = p.node.log;
    for (const [i, t] of seen.committedTerm) {
      if (i < log.firstIndex() || seen.committedBy.get(i)! >= p.node.term) continue;
      if (i > log.lastIndex() || log.term(i) !== t) throw new Error(`leader ${p.id} lacks committed entry ${i}`);
    }
  }
  net.checkSafety();
}

export function randomWalk(
  seed: number,
  steps: number,
  trace?: (step: number, op: number, net: Network) => void,
  factory?: NodeFactory,
): { applied: number } {
  const rnd = seededRandom(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const preVote = rnd() < 0.5;
  const checkQuorum = rnd() < 0.5;
  const readOnlyOption = checkQuorum && rnd() < 0.5 ? 'leaseBased' : 'safe';
  const net = Network.of([1, 2, 3, 4, 5], {
    seed,
    preVote,
    checkQuorum,
    readOnlyOption,
    maxSizePerMsg: 64,
    maxInflightMsgs: 4,
    factory,
  });
  const readFloors = new Map<string, number>();
  if (rnd() < 0.5) net.chaos = { reorder: true, duplicateRate: 0.05, delayRate: 0.05 };
  const seen: Observed = { leaderOfTerm: new Map(), committedTerm: new Map(), committedBy: new Map() };
  let nextValue = 0;
  let spare = 6;
  for (let step = 0; step < steps; step++) {
    const ids = [...net.peers.keys()];
    const r = rnd();
    try {
      if (r < 0.45) {
        net.tickAll(1);
      } else if (r < 0.7) {
        net.node(pick(ids)).propose(bytes(`v${nextValue++}`));
        net.stabilize();
      } else if (r < 0.76) {
        net.heal();
        if (rnd() < 0.5) net.partition(ids.filter(() => rnd() < 0.4), ids);
        else net.isolate(pick(ids));
      } else if (r < 0.8) {
        net.heal();
      } else if (r < 0.84) {
        net.dropRandomly(rnd() * 0.3);
      } else if (r < 0.86) {
        net.filter = undefined;
      } else if (r < 0.89) {
        net.restart(pick(ids));
        net.stabilize();
      } else if (r < 0.91) {
        const p = net.peer(pick(ids));
        if (p.appliedIndex > p.storage.firstIndex()) p.snapshotAndCompact();
      } else if (r < 0.93) {
        const leader = net.leaders()[0];
        if (leader !== undefined) net.node(leader).transferLeadership(pick(ids));
        net.stabilize();
      } else if (r < 0.95) {
        const leader = net.leaders()[0];
        if (leader !== undefined) {
          const n = net.node(leader);
          const voters = n.status().config.voters;
          if (voters.length > 3 && rnd() < 0.5) {
            n.proposeConfChange({ transition: 'auto', changes: [{ type: 'removeNode', nodeId: pick(voters) }] });
          } else {
            const id = spare++;
            net.add(id, new MemoryStorage());
            n.proposeConfChange({ transition: 'auto', changes: [{ type: 'addVoter', nodeId: id }] });
          }
          net.stabilize();
        }
      } else {
        // Linearizable reads: the read index must cover every entry committed anywhere before
        // the read was issued.
        const floor = Math.max(...[...net.peers.values()].map((p) => p.node.log.committed));
        readFloors.set(`r${step}`, floor);
        net.node(pick(ids)).readIndex(bytes(`r${step}`));
        net.stabilize();
      }
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw new Error(`seed ${seed} step ${step}: ${String(e)}`, { cause: e });
    }
    trace?.(step, r, net);
    try {
      checkInvariants(net, seen);
      checkReads(net, readFloors);
    } catch (e) {
      throw new Error(`seed ${seed} step ${step} (op ${r.toFixed(3)}): ${String(e)}`, { cause: e });
    }
  }
  // Heal everything: the cluster must make progress again.
  net.recover();
  trace?.(-1, -1, net);
  // Liveness: once healed, a leader emerges and commits. Operators shut removed members down;
  // left running (without pre-vote or check-quorum) they keep disrupting elections (thesis
  // 4.2.3), which is a liveness issue, not a safety one.
  let leader: NodeId | undefined;
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 200 && net.leaders().length === 0; i++) net.tickAll(1);
    if (net.leaders().length === 0) break;
    leader = net.leader();
    try {
      net.propose(leader, `sync${round}`);
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
    }
    net.tickAll(5);
    if (net.leaders().length === 0) continue;
    leader = net.leader();
    // Only once every conf change in the leader's log is applied is its config final.
    if (net.node(leader).pendingConfIndex > net.node(leader).log.applied) continue;
    const conf = net.node(leader).status().config;
    const members = new Set([...conf.voters, ...conf.learners, ...conf.votersOutgoing]);
    for (const id of [...net.peers.keys()]) if (!members.has(id)) net.peers.delete(id);
  }
  if (leader === undefined || net.leaders().length === 0) {
    throw new Error(`seed ${seed}: no leader after healing\n${describeCluster(net)}`);
  }
  leader = net.leader();
  net.propose(leader, 'final');
  net.tickAll(5);
  checkInvariants(net, seen);
  const members = net.node(leader).status().config.voters;
  for (const id of members) {
    const last = net.peer(id).applied.at(-1);
    if (last !== 'final') throw new Error(`seed ${seed}: node ${id} did not apply the final entry (last: ${last})`);
  }
  return { applied: net.peer(leader).applied.length };
}


export function describeCluster(net: Network): string {
  const lines: string[] = [];
  for (const p of net.peers.values()) {
    const n = p.node;
    const st = n.status();
    lines.push(
      `${p.id} ${n.role} term=${n.term} vote=${n.vote} lead=${n.lead} commit=${n.log.committed} ` +
        `applied=${st.applied} last=${n.log.lastIndex()} first=${n.log.firstIndex()} ` +
        `voters=${st.config.voters.join(',')} learners=${st.config.learners.join(',')} ` +
        `out=${st.config.votersOutgoing.join(',')} promotable=${n.promotable()}`,
    );
  }
  return lines.join('\n');
}
