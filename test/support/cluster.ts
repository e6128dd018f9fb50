// Throw-away clusters of real coordinator processes on 127.0.0.1: N members (3 or 5), free ports,
// a temp data dir each, peer traffic through fault-injecting proxies (fault-proxy.ts). Every
// member can be killed (SIGKILL), restarted on the same data dir, paused (SIGSTOP) and resumed
// (SIGCONT), always by the PID this module started. `stop()` cleans up after any failure.
//
// What is launched is pluggable (`MemberLauncher`): real etcd now, `shoal coord` once it runs
// multi-member. Both get etcd's flag names. The Shoal launcher additionally gives each member its
// own address for each peer (`--peer-dial`), so every ordered pair i→j has its own proxy and
// full and one-way partitions are exact; for etcd, whose members all dial the same advertised peer
// URL, one proxy per destination identifies the dialer from the rafthttp headers (fault-proxy.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ETCD_BIN } from './etcd-server.js';
import { etcdSourceSniffer, PeerNetwork, type Routing, type SourceSniffer } from './fault-proxy.js';
import { EtcdRpc } from './history.js';
import { freePorts, LOOPBACK, waitForTcp } from './ports.js';
import { SHOAL_MAIN } from './shoal-coord.js';

export type ClusterKindName = 'etcd' | 'shoal';

/** Everything one member process is started with. */
export interface MemberLaunch {
  name: string;
  dataDir: string;
  clientUrl: string;
  listenPeerUrl: string;
  /** The peer URL every member knows this one by (in --initial-cluster). */
  advertisePeerUrl: string;
  /** name=advertisePeerUrl,... for every member: identical on all members. */
  initialCluster: string;
  clusterToken: string;
  state: 'new' | 'existing';
  /** per-pair routing: the address this member must dial for each other member. */
  peerDialUrls?: ReadonlyMap<string, string>;
}

export interface MemberLauncher {
  readonly kind: ClusterKindName;
  readonly routing: Routing;
  /** The member's Raft election timeout, ms: the unit of the failover bound. */
  readonly electionTimeoutMs: number;
  /** Bound on "leader killed → writes acknowledged again", ms. */
  readonly failoverBoundMs: number;
  /** Bound on one member process becoming able to accept TCP connections. */
  readonly startTimeoutMs: number;
  command(m: MemberLaunch): { command: string; args: string[]; cwd?: string; env?: NodeJS.ProcessEnv };
  /** per-destination routing: how a proxy learns who dialed. */
  sourceSniffer?(idToName: () => ReadonlyMap<string, string>): SourceSniffer;
  /** Member ids (lower-case hex) as the members will report them, when computable up front. */
  memberIds?(members: readonly MemberLaunch[]): Map<string, string>;
}

const ETCD_ELECTION_MS = 1000;

export const etcdLauncher: MemberLauncher = {
  kind: 'etcd',
  routing: 'per-destination',
  electionTimeoutMs: ETCD_ELECTION_MS,
  failoverBoundMs: 2 * ETCD_ELECTION_MS,
  startTimeoutMs: 15_000,
  command: (m) => {
    if (!existsSync(ETCD_BIN)) throw new Error(`etcd not found at ${ETCD_BIN}: install Debian's etcd-server or set ETCD_BIN`);
    return {
      command: ETCD_BIN,
      args: [
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-client-urls', m.clientUrl,
        '--advertise-client-urls', m.clientUrl,
        '--listen-peer-urls', m.listenPeerUrl,
        '--initial-advertise-peer-urls', m.advertisePeerUrl,
        '--initial-cluster', m.initialCluster,
        '--initial-cluster-state', m.state,
        '--initial-cluster-token', m.clusterToken,
        // etcd's defaults, spelled out because the failover bound is expressed in them.
        '--heartbeat-interval', '100',
        '--election-timeout', String(ETCD_ELECTION_MS),
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
    };
  },
  sourceSniffer: etcdSourceSniffer,
  // etcd's bootstrap member id: the first 8 bytes (big-endian) of sha1(sorted peer URLs joined,
  // then the cluster token), as in membership.NewMember with no time.
  memberIds: (members) => new Map(members.map((m) => {
    const hash = createHash('sha1').update([m.advertisePeerUrl].sort().join('') + m.clusterToken).digest();
    return [hash.readBigUInt64BE(0).toString(16), m.name];
  })),
};

/**
 * `shoal coord` from source. Expects, beyond etcd's flags: `--peer-dial name=url,...`, the
 * address to DIAL for each listed peer instead of its --initial-cluster URL (the cluster
 * configuration, and so member ids, stay identical on every member; only where this member
 * connects changes). Not yet implemented by `shoal coord`, nor multi-member: starting this kind
 * fails loudly with the member's own error until it is.
 */
export const shoalLauncher: MemberLauncher = {
  kind: 'shoal',
  routing: 'per-pair',
  electionTimeoutMs: Number(process.env['SHOAL_JEPSEN_ELECTION_MS'] ?? 1000),
  failoverBoundMs: 2 * Number(process.env['SHOAL_JEPSEN_ELECTION_MS'] ?? 1000),
  // Starting from TypeScript through tsx takes seconds on two cores.
  startTimeoutMs: 30_000,
  command: (m) => {
    // Benchmarks run the build (SHOAL_USE_BUILD=1), as users do; tests run the source through tsx.
    const built = process.env['SHOAL_USE_BUILD'] === '1';
    const entry = built ? path.resolve(path.dirname(SHOAL_MAIN), '..', '..', 'dist', 'cli', 'main.js') : SHOAL_MAIN;
    if (!existsSync(entry)) throw new Error(`Shoal's CLI is missing (${entry})${built ? ': run `npm run build`' : ''}`);
    const args = [
      ...(built ? [] : ['--import', 'tsx']), entry, 'coord',
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.listenPeerUrl,
      '--initial-advertise-peer-urls', m.advertisePeerUrl,
      '--initial-cluster', m.initialCluster,
      '--initial-cluster-state', m.state,
      '--initial-cluster-token', m.clusterToken,
      '--log-level', 'warn',
    ];
    if (m.peerDialUrls && m.peerDialUrls.size > 0) {
      args.push('--peer-dial', [...m.peerDialUrls].map(([name, url]) => `${name}=${url}`).join(','));
    }
    return { command: process.execPath, args, cwd: path.resolve(path.dirname(SHOAL_MAIN), '..', '..') };
  },
};

export const LAUNCHERS: Record<ClusterKindName, MemberLauncher> = { etcd: etcdLauncher, shoal: shoalLauncher };

/** The kinds named in SHOAL_JEPSEN_SERVERS (comma separated; default "etcd,shoal"). */
export function selectClusterKinds(): MemberLauncher[] {
  const raw = process.env['SHOAL_JEPSEN_SERVERS']?.trim() || 'etcd,shoal';
  return raw.split(',').map((s) => s.trim()).filter((s) => s !== '').map((name) => {
    const launcher = LAUNCHERS[name as ClusterKindName];
    if (!launcher) throw new Error(`SHOAL_JEPSEN_SERVERS names "${name}", known: ${Object.keys(LAUNCHERS).join(', ')}`);
    return launcher;
  });
}

const LOG_TAIL = 32 * 1024;

export type MemberState = 'running' | 'paused' | 'killed';

export class Member {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private tail = '';
  private starts = 0;
  state: MemberState = 'killed';
  /** Exits this module did not cause (a crash of the server under test), as text. */
  readonly crashes: string[] = [];

  constructor(
    private readonly launcher: MemberLauncher,
    readonly launch: MemberLaunch,
    private readonly clientPort: number,
  ) {}

  get name(): string {
    return this.launch.name;
  }

  get clientUrl(): string {
    return this.launch.clientUrl;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  logs(): string {
    return this.tail;
  }

  /** Spawns the process and resolves once it accepts client connections. */
  async start(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) throw new Error(`${this.name} is already running`);
    const launch = this.starts++ === 0 ? this.launch : { ...this.launch, state: 'existing' as const };
    const { command, args, cwd, env } = this.launcher.command(launch);
    const child = spawn(command, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const append = (chunk: Buffer): void => {
      this.tail += chunk.toString('utf8');
      if (this.tail.length > LOG_TAIL) this.tail = this.tail.slice(-LOG_TAIL);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    let exitedEarly: ((err: Error) => void) | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve();
        process.removeListener('exit', killOnExit);
        exitedEarly?.(new Error(`${this.name} exited (code ${code}, signal ${signal})\n${this.tail}`));
        if (this.child === child && this.state !== 'killed') {
          this.crashes.push(`${this.name} (pid ${child.pid}) exited by itself: code ${code}, signal ${signal}\n${this.tail.slice(-2000)}`);
          this.state = 'killed'; // so recovery restarts it; the crash itself stays on record
        }
      });
    });
    const spawnFailed = new Promise<never>((_, reject) => child.once('error', reject));
    spawnFailed.catch(() => undefined);
    const pid = child.pid;
    // A test worker that dies without stop() must not leave the member running.
    const killOnExit = (): void => { try { process.kill(pid!, 'SIGKILL'); } catch { /* gone */ } };
    if (pid !== undefined) process.once('exit', killOnExit);
    this.state = 'running';
    const abort = new AbortController();
    try {
      await Promise.race([
        waitForTcp(this.clientPort, Date.now() + this.launcher.startTimeoutMs, abort.signal),
        spawnFailed,
        new Promise<never>((_, reject) => { exitedEarly = reject; }),
      ]);
    } catch (err) {
      abort.abort();
      await this.kill();
      throw err;
    } finally {
      abort.abort();
      exitedEarly = undefined;
    }
  }

  /** SIGKILL by PID; resolves once the process is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    this.state = 'killed';
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    await bounded(this.exited, 10_000, `${this.name} (pid ${child.pid}) did not exit after SIGKILL`);
  }

  /** Starts again on the same data dir (after kill). */
  restart(): Promise<void> {
    if (this.state !== 'killed') throw new Error(`${this.name}: restart needs a killed member (it is ${this.state})`);
    return this.start();
  }

  pause(): void {
    if (this.state !== 'running') throw new Error(`${this.name}: pause needs a running member (it is ${this.state})`);
    process.kill(this.child!.pid!, 'SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    if (this.state !== 'paused') return;
    process.kill(this.child!.pid!, 'SIGCONT');
    this.state = 'running';
  }
}

export interface ClusterOptions {
  launcher: MemberLauncher;
  size: number;
  /** Route peer traffic through fault proxies (default true). */
  proxies?: boolean;
  /** Bound on the whole cluster being ready (every member answers a linearizable read). */
  readyTimeoutMs?: number;
}

export class Cluster {
  readonly network: PeerNetwork | undefined;
  private idToName = new Map<string, string>();
  private stopped = false;

  private constructor(
    readonly launcher: MemberLauncher,
    readonly members: Member[],
    network: PeerNetwork | undefined,
    private readonly root: string,
  ) {
    this.network = network;
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Cluster.startOnce(opts);
      } catch (err) {
        // A port can be taken between probe and bind; only that is worth another try.
        if (attempt >= 3 || !/address already in use/i.test(String((err as Error).message))) throw err;
      }
    }
  }

  private static async startOnce(opts: ClusterOptions): Promise<Cluster> {
    const { launcher, size } = opts;
    if (!Number.isInteger(size) || size < 1) throw new Error(`cluster size must be a positive integer, got ${size}`);
    const root = await mkdtemp(path.join(os.tmpdir(), `shoal-jepsen-${launcher.kind}-`));
    const names = Array.from({ length: size }, (_, i) => `n${i + 1}`);
    const ports = await freePorts(2 * size);
    const clientPorts = ports.slice(0, size);
    const peerPorts = ports.slice(size);
    const useProxies = opts.proxies ?? true;
    let cluster: Cluster | undefined;
    let network: PeerNetwork | undefined;
    try {
      let idToName = new Map<string, string>();
      if (useProxies) {
        network = new PeerNetwork(launcher.routing, names, launcher.sourceSniffer?.(() => idToName));
        await network.start(new Map(names.map((n, i) => [n, peerPorts[i]!])));
      }
      const net = network;
      const listenPeer = (i: number): string => `http://${LOOPBACK}:${peerPorts[i]}`;
      // per-destination: everyone knows j by its proxy; per-pair: by its real address, dialed via overrides.
      const advertised = (i: number): string => (net && launcher.routing === 'per-destination' ? net.urlFor(undefined, names[i]!) : listenPeer(i));
      const initialCluster = names.map((n, i) => `${n}=${advertised(i)}`).join(',');
      const clusterToken = `jepsen-${process.pid}-${Date.now().toString(36)}`;
      const launches: MemberLaunch[] = names.map((name, i) => ({
        name,
        dataDir: path.join(root, name),
        clientUrl: `http://${LOOPBACK}:${clientPorts[i]}`,
        listenPeerUrl: listenPeer(i),
        advertisePeerUrl: advertised(i),
        initialCluster,
        clusterToken,
        state: 'new',
        ...(net && launcher.routing === 'per-pair'
          ? { peerDialUrls: new Map(names.filter((p) => p !== name).map((p) => [p, net.urlFor(name, p)])) }
          : {}),
      }));
      idToName = launcher.memberIds?.(launches) ?? new Map();
      const members = launches.map((l, i) => new Member(launcher, l, clientPorts[i]!));
      cluster = new Cluster(launcher, members, network, root);
      cluster.idToName = idToName;
      await Promise.all(members.map((m) => m.start()));
      await cluster.waitReady(opts.readyTimeoutMs ?? 30_000);
      await cluster.learnMemberIds();
      // Now ids are known: the sniffing proxies must see the cluster's live map.
      idToName = cluster.idToName;
      return cluster;
    } catch (err) {
      const logs = cluster?.logs() ?? '';
      if (cluster) await cluster.stop();
      else {
        await network?.stop();
        await rm(root, { recursive: true, force: true });
      }
      const message = (err as Error).message;
      throw new Error(`${launcher.kind} cluster of ${size} did not start: ${message}${logs && !message.includes(logs) ? `\n${logs}` : ''}`);
    }
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  member(name: string): Member {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  nameOfId(idDecimalOrHex: string, hex = false): string | undefined {
    const id = hex ? idDecimalOrHex.toLowerCase() : BigInt(idDecimalOrHex).toString(16);
    return this.idToName.get(id);
  }

  /** Checks the computed member ids against MemberList; adopts the list if they differ. */
  private async learnMemberIds(): Promise<void> {
    const rpc = new EtcdRpc(this.members[0]!.clientUrl);
    try {
      const res = await rpc.memberList(5000);
      const listed = new Map(res.members.map((m) => [BigInt(m.ID).toString(16), m.name]));
      const same = listed.size === this.idToName.size && [...listed].every(([id, n]) => this.idToName.get(id) === n);
      if (!same) {
        this.idToName.clear();
        for (const [id, n] of listed) this.idToName.set(id, n);
        // Connections accepted before the ids were known are of unknown source: re-dial them.
        for (const m of this.members) this.network?.resetMember(m.name);
      }
    } finally {
      rpc.close();
    }
  }

  /** Resolves once every running member answers a linearizable Range (so a leader exists). */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    await Promise.all(this.members.filter((m) => m.state === 'running').map(async (m) => {
      const rpc = new EtcdRpc(m.clientUrl);
      let last: unknown;
      try {
        while (Date.now() < deadline) {
          try {
            await rpc.range('/jepsen/ready-probe', Math.max(100, Math.min(2000, deadline - Date.now())));
            return;
          } catch (err) {
            last = err;
          }
          // Leader election has no event observable from outside: poll, bounded by the deadline.
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`${m.name} did not serve a linearizable read within ${timeoutMs} ms: ${String(last)}`);
      } finally {
        rpc.close();
      }
    }));
  }

  /**
   * The leader as seen by the running members (Maintenance.Status `leader`), once a majority of
   * the cluster names the same running member. Polls until `timeoutMs`.
   */
  async leader(timeoutMs = 10_000): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    const majority = Math.floor(this.members.length / 2) + 1;
    let seen = '';
    while (Date.now() < deadline) {
      const views = await Promise.all(this.members.filter((m) => m.state === 'running').map(async (m) => {
        const rpc = new EtcdRpc(m.clientUrl, false);
        try {
          const s = await rpc.status(500);
          return s.leader === '0' ? undefined : this.nameOfId(s.leader);
        } catch {
          return undefined;
        } finally {
          rpc.close();
        }
      }));
      const votes = new Map<string, number>();
      for (const v of views) if (v) votes.set(v, (votes.get(v) ?? 0) + 1);
      seen = [...votes].map(([n, c]) => `${n}:${c}`).join(' ');
      for (const [name, count] of votes) {
        if (count >= majority && this.member(name).state === 'running') return this.member(name);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no leader agreed by a majority within ${timeoutMs} ms (views: ${seen || 'none'})`);
  }

  /** Heals the network, resumes paused and restarts killed members, then waits until ready. */
  async recoverAll(timeoutMs = 30_000): Promise<void> {
    this.network?.heal();
    for (const m of this.members) if (m.state === 'paused') m.resume();
    await Promise.all(this.members.filter((m) => m.state === 'killed').map((m) => this.restart(m)));
    await this.waitReady(timeoutMs);
  }

  async kill(m: Member): Promise<void> {
    await m.kill();
    this.network?.resetMember(m.name);
  }

  async restart(m: Member): Promise<void> {
    this.network?.resetMember(m.name);
    await m.restart();
  }

  /** Kills every member at once (one SIGKILL each, sent before waiting for any to exit). */
  async killAll(): Promise<void> {
    await Promise.all(this.members.map((m) => m.kill()));
    for (const m of this.members) this.network?.resetMember(m.name);
  }

  /** Members that exited without being killed by this module (always a failure of the run). */
  crashes(): string[] {
    return this.members.flatMap((m) => m.crashes);
  }

  logs(): string {
    return this.members.map((m) => `--- ${m.name} (pid ${m.pid ?? '-'}, ${m.state}) ---\n${m.logs().slice(-4000)}`).join('\n');
  }

  /** Stops every member (SIGCONT then SIGKILL, by PID), the proxies, and removes the data dirs. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const errors: unknown[] = [];
    await Promise.all(this.members.map(async (m) => {
      try {
        m.resume();
        await m.kill();
      } catch (err) {
        errors.push(err);
      }
    }));
    await this.network?.stop().catch((err: unknown) => errors.push(err));
    await rm(this.root, { recursive: true, force: true });
    if (errors.length > 0) throw new Error(`cluster stop: ${errors.map(String).join('; ')}`);
  }
}

function bounded(p: Promise<unknown>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(() => undefined),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); }),
  ]).finally(() => clearTimeout(timer));
}
