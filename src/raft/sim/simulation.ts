// One simulated run: N nodes, clients, a faulty network and disks, all driven by one seed.
//
// Phases. Faults (`faultTicks`): partitions (symmetric and one-way), crashes and restarts,
// message drop/duplication/delay, while clients read, write and compare-and-set. Then heal:
// the network becomes reliable, every node is restarted, clients stop, and a probe client
// writes until acknowledged. The run is live if within `livenessBound` ticks of the heal one
// leader is known to every node, every node has applied everything in the leader's log, and
// the probe write is acknowledged. Safety is checked throughout; linearizability at the end.

import { check, kvModel } from '../../lincheck/index.js';
import { emptyConfState } from '../index.js';
import type { Message } from '../types.js';
import { SafetyMonitor, type Violation } from './checks.js';
import { SimClient } from './clients.js';
import { EventQueue } from './event-queue.js';
import { HistoryRecorder } from './history.js';
import { NodeHost, type HostOptions } from './host.js';
import { drawProfile, Nemesis, type FaultProfile } from './faults.js';
import { Network } from './network.js';
import { coreNode, type NodeFactory } from './node-api.js';
import { Prng } from './prng.js';
import { CLIENT_ID_BASE } from './wire.js';

export interface SimConfig {
  seed: number;
  nodes: number;
  /** Length of the fault phase, in ticks. */
  faultTicks: number;
  /** Liveness bound after the heal, in ticks. */
  livenessBound: number;
  /** Keep measuring recovery up to this many ticks after the heal. */
  livenessMax: number;
  clients: number;
  keys: number;
  /** Simulated time units per tick (network delays and fsyncs are in these units). */
  tickUnits: number;
  /** Client timeout per attempt, in ticks. */
  clientTimeoutTicks: number;
  /** Chance that a client gives up on an operation after an attempt times out. */
  clientGiveUp: number;
  /** Operations each client may leave with an unknown outcome per run. */
  clientMaxGiveUps: number;
  /** Overrides of the per-seed fault profile (tests pin options this way). */
  profile?: Partial<FaultProfile>;
  /** Ticks between log-matching sweeps. */
  checkEveryTicks: number;
  /** Host options; preVote, checkQuorum, maxSizePerMsg and snapshotEvery come from the seed's profile. */
  host: Omit<HostOptions, ProfiledOption>;
}

type ProfiledOption = 'preVote' | 'checkQuorum' | 'maxSizePerMsg' | 'snapshotEvery';

export function defaultConfig(seed: number, nodes = 3): SimConfig {
  return {
    seed,
    nodes,
    faultTicks: 1500,
    livenessBound: 100,
    livenessMax: 400,
    clients: 4,
    keys: 3,
    tickUnits: 10,
    clientTimeoutTicks: 20,
    clientGiveUp: 0.15,
    clientMaxGiveUps: 4,
    checkEveryTicks: 50,
    host: {
      electionTick: 10,
      heartbeatTick: 1,
      keepEntries: 3,
      fsyncMin: 1,
      fsyncMax: 6,
    },
  };
}

export interface RunStats {
  ops: number;
  completedOps: number;
  unknownOps: number;
  elections: number;
  crashes: number;
  messages: number;
  applied: number;
  maxTerm: number;
  tornWrites: number;
  lostWrites: number;
  snapshotsInstalled: number;
  events: number;
}

export interface RunResult {
  seed: number;
  nodes: number;
  violations: Violation[];
  liveness: { met: boolean; ticks: number | null; bound: number };
  linearizability: 'ok' | 'illegal' | 'unknown';
  /** The checker's minimal failing history, when linearizability failed. */
  minimalHistory?: string;
  stats: RunStats;
}

export function runSimulation(config: SimConfig, factory: NodeFactory = coreNode): RunResult {
  const root = new Prng(config.seed);
  const profile: FaultProfile = { ...drawProfile(root.fork('profile')), ...config.profile };
  const queue = new EventQueue();
  const network = new Network(queue, root.fork('network'));
  const faultRng = root.fork('faults');
  const monitor = new SafetyMonitor();
  const history = new HistoryRecorder();
  const ids = Array.from({ length: config.nodes }, (_, i) => i + 1);
  const conf = { ...emptyConfState(), voters: ids };
  const hosts = new Map<number, NodeHost>();
  const clients: SimClient[] = [];
  const T = config.tickUnits;
  let events = 0;

  const env = {
    queue,
    network,
    monitor,
    factory,
    conf,
    options: {
      ...config.host,
      preVote: profile.preVote,
      checkQuorum: profile.checkQuorum,
      maxSizePerMsg: profile.maxSizePerMsg,
      snapshotEvery: profile.snapshotEvery,
    },
    onLeaderElected: (id: number) => nemesis.onLeaderElected(id),
    onLeaderCommitted: (id: number) => nemesis.onLeaderCommitted(id),
    deliverToNode(to: number, m: Message) {
      network.send(m.from, to, () => hosts.get(to)!.receive({ ...m }));
    },
    // Client traffic rides a connection: never duplicated, and lost when either end restarts.
    respond(clientId: number, from: number, r: Parameters<SimClient['onResponse']>[1]) {
      const host = hosts.get(from)!;
      const inc = host.incarnation;
      network.send(from, CLIENT_ID_BASE + clientId, () => inc === host.incarnation && clients[clientId]!.onResponse(from, r), { duplicate: false });
    },
  };
  const nemesis = new Nemesis(root.fork('nemesis'), profile, network, hosts, (d, run) => queue.after(d, run), config.tickUnits);
  for (const id of ids) hosts.set(id, new NodeHost(id, env, root.fork(`node${id}`)));
  const clientEnv = {
    queue,
    history,
    nodes: config.nodes,
    keys: config.keys,
    timeout: config.clientTimeoutTicks * T,
    giveUp: config.clientGiveUp,
    maxGiveUps: config.clientMaxGiveUps,
    thinkMax: T,
    send(clientId: number, to: number, req: Parameters<NodeHost['clientRequest']>[0]) {
      const host = hosts.get(to)!;
      const inc = host.incarnation;
      network.send(CLIENT_ID_BASE + clientId, to, () => inc === host.incarnation && host.clientRequest(req), { duplicate: false });
    },
  };
  for (let c = 0; c <= config.clients; c++) clients.push(new SimClient(c, clientEnv, root.fork(`client${c}`)));
  const probe = clients[config.clients]!;
  for (const c of clients) if (c !== probe) c.start();

  // Each node ticks on its own slightly drifting clock.
  for (const [id, host] of hosts) {
    const rng = root.fork(`clock${id}`);
    const tick = () => {
      host.tick();
      queue.after(T + rng.range(-1, 1), tick);
    };
    queue.at(rng.range(0, T - 1), tick);
  }

  // Fault schedule.
  const healAt = config.faultTicks * T;
  const scheduleFault = () => {
    const at = queue.now + faultRng.range(1, 2 * profile.faultEveryTicks) * T;
    if (at >= healAt) return;
    queue.at(at, () => {
      nemesis.strike();
      scheduleFault();
    });
  };
  scheduleFault();

  let healed = false;
  let liveAt: number | null = null;
  queue.at(healAt, () => {
    healed = true;
    nemesis.heal();
    for (const c of clients) c.stopped = true;
    probe.probe = { key: 'probe', done: false, doneAt: 0 };
    probe.start();
  });

  const checkLogs = () => {
    monitor.checkLogs(
      [...hosts.values()]
        .filter((h) => h.up)
        .map((h) => {
          const { first, entries } = h.stableLog();
          return { node: h.id, first, prevTerm: h.storage.term(first - 1), entries };
        }),
    );
  };
  const sweep = () => {
    checkLogs();
    queue.after(config.checkEveryTicks * T, sweep);
  };
  queue.after(config.checkEveryTicks * T, sweep);

  const isLive = (): boolean => {
    if (!probe.probe?.done) return false;
    const all = [...hosts.values()];
    if (all.some((h) => !h.up)) return false;
    const maxTerm = Math.max(...all.map((h) => h.term));
    const leaders = all.filter((h) => h.role === 'leader' && h.term === maxTerm);
    if (leaders.length !== 1) return false;
    const leader = leaders[0]!;
    if (all.some((h) => h.lead !== leader.id)) return false;
    const last = leader.storage.lastIndex();
    return all.every((h) => h.applied === last);
  };
  const watchLiveness = () => {
    if (liveAt === null && isLive()) liveAt = queue.now;
    if (liveAt === null) queue.after(T, watchLiveness);
  };
  queue.at(healAt + 1, watchLiveness);

  const end = healAt + config.livenessMax * T;
  try {
    queue.runUntil(end, () => {
      events++;
      return liveAt !== null || monitor.violations.length > 0;
    });
  } catch (e) {
    const err = e as Error;
    monitor.violations.push({
      kind: err.name === 'RaftInvariantError' ? 'invariant' : 'crash',
      message: `${err.name}: ${err.message} (at time ${queue.now})\n${err.stack?.split('\n').slice(1, 6).join('\n') ?? ''}`,
    });
  }
  if (monitor.violations.length === 0) {
    checkLogs();
    monitor.finish();
  }

  const lin = check(kvModel(), history.ops, { maxSteps: 2_000_000 });
  let minimalHistory: string | undefined;
  if (lin.outcome === 'illegal') {
    minimalHistory = lin.failure!.text;
    monitor.violations.push({ kind: 'linearizability', message: lin.failure!.text });
  }
  const ticksToLive = liveAt === null ? null : Math.ceil((liveAt - healAt) / T);
  const all = [...hosts.values()];
  return {
    seed: config.seed,
    nodes: config.nodes,
    violations: monitor.violations,
    liveness: { met: healed && ticksToLive !== null && ticksToLive <= config.livenessBound, ticks: ticksToLive, bound: config.livenessBound },
    linearizability: lin.outcome,
    ...(minimalHistory !== undefined ? { minimalHistory } : {}),
    stats: {
      ops: history.ops.length,
      completedOps: history.completed,
      unknownOps: history.ops.length - history.completed,
      elections: monitor.elections,
      crashes: all.reduce((s, h) => s + h.crashes, 0),
      messages: network.stats.sent,
      applied: monitor.appliedCount,
      maxTerm: Math.max(...all.map((h) => h.term)),
      tornWrites: all.reduce((s, h) => s + h.disk.stats.tornOnCrash, 0),
      lostWrites: all.reduce((s, h) => s + h.disk.stats.lostOnCrash, 0),
      snapshotsInstalled: all.reduce((s, h) => s + h.snapshotsInstalled, 0),
      events,
    },
  };
}
