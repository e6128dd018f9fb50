// Real `shoal coord` processes forming one cluster on 127.0.0.1: free ports, a temp dir each,
// peer traffic through one LinkProxy per ordered pair (`--peer-dial`), so tests can partition
// members. Every process is started here and stopped by its PID (SIGKILL/SIGSTOP/SIGCONT too).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { call, client } from '../coord-server/harness.js';
import { freePorts, LOOPBACK } from '../support/ports.js';
import { spawnCoord } from '../support/shoal-coord.js';
import { LinkProxy, type LinkMode } from '../support/fault-proxy.js';

const READY_TIMEOUT_MS = 30_000;

export interface StatusView {
  memberId: string;
  leader: string;
  raftTerm: number;
  raftIndex: number;
  raftAppliedIndex: number;
  isLearner: boolean;
}

export class Member {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  readonly logs: string[] = [];
  state: 'running' | 'paused' | 'stopped' = 'stopped';
  private rpc: (grpc.Client & Record<string, unknown>) | undefined;

  constructor(
    readonly name: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly dataDir: string,
    private readonly args: () => string[],
  ) {}

  get clientUrl(): string {
    return `http://${LOOPBACK}:${this.clientPort}`;
  }

  get endpoint(): string {
    return `${LOOPBACK}:${this.clientPort}`;
  }

  get peerUrl(): string {
    return `http://${LOOPBACK}:${this.peerPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns the member; resolves once it logged that it serves clients. */
  start(extra: string[] = []): Promise<void> {
    if (this.state !== 'stopped') throw new Error(`${this.name} is ${this.state}`);
    const { child, exited, ready } = spawnCoord([...this.args(), ...extra], this.logs, this.name, READY_TIMEOUT_MS);
    this.child = child;
    this.state = 'running';
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    this.exited = exited.then(() => {
      process.removeListener('exit', killOnExit);
      if (this.child === child) this.state = 'stopped';
    });
    return ready.then(() => undefined);
  }

  /** Sends `signal` by PID and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || this.state === 'stopped') return;
    if (this.state === 'paused') process.kill(child.pid!, 'SIGCONT');
    process.kill(child.pid!, signal);
    await this.exited;
    this.state = 'stopped';
  }

  pause(): void {
    process.kill(this.child!.pid!, 'SIGSTOP');
    this.state = 'paused';
  }

  resume(): void {
    process.kill(this.child!.pid!, 'SIGCONT');
    this.state = 'running';
  }

  async status(deadlineMs = 2000): Promise<StatusView> {
    this.rpc ??= client('etcdserverpb.Maintenance', this.endpoint);
    const s = await call<{ header: { memberId: string }; leader: string; raftTerm: string; raftIndex: string; raftAppliedIndex: string; isLearner: boolean }>(
      this.rpc,
      'Status',
      {},
      deadlineMs,
    );
    return {
      memberId: s.header.memberId,
      leader: s.leader,
      raftTerm: Number(s.raftTerm),
      raftIndex: Number(s.raftIndex),
      raftAppliedIndex: Number(s.raftAppliedIndex),
      isLearner: s.isLearner,
    };
  }

  closeRpc(): void {
    this.rpc?.close();
    this.rpc = undefined;
  }

  log(match: string): string[] {
    return this.logs.filter((l) => l.includes(match));
  }
}

export interface ClusterOptions {
  size: number;
  /** Extra `shoal coord` flags for every member. */
  args?: string[];
}

export class CoordCluster {
  readonly members: Member[] = [];
  /** proxies.get(`${from}>${to}`): the link `from` dials `to` through. */
  private readonly proxies = new Map<string, LinkProxy>();
  /** The links (`${from}>${to}`) that currently drop; every other link passes. */
  private readonly dropped = new Set<string>();
  private readonly modeOf = (from: string | undefined, to: string): LinkMode =>
    this.dropped.has(`${from}>${to}`) ? { kind: 'drop' } : { kind: 'pass' };
  private readonly root = mkdtempSync(join(tmpdir(), 'shoal-coord-cluster-'));
  readonly token = `t-${process.pid}-${Date.now().toString(36)}`;
  private readonly names: string[] = [];

  private constructor(private readonly options: ClusterOptions) {}

  static async start(options: ClusterOptions): Promise<CoordCluster> {
    const c = new CoordCluster(options);
    try {
      for (let i = 1; i <= options.size; i++) await c.define(`n${i}`);
      await Promise.all(c.members.map((m) => m.start()));
      await c.leader();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  /** Creates a member (ports, dir, proxies to and from every other defined member); does not start it. */
  async define(name: string): Promise<Member> {
    const [clientPort, peerPort] = await freePorts(2);
    const m: Member = new Member(name, clientPort!, peerPort!, join(this.root, name), (): string[] => this.argsFor(m));
    for (const other of this.members) {
      await this.link(m, other);
      await this.link(other, m);
    }
    this.members.push(m);
    this.names.push(name);
    return m;
  }

  private async link(from: Member, to: Member): Promise<void> {
    const p = new LinkProxy(to.name, to.peerPort, from.name, this.modeOf);
    await p.start();
    this.proxies.set(`${from.name}>${to.name}`, p);
  }

  /** The flags of `m`: the cluster as it is now (the founders, plus members defined later). */
  private argsFor(m: Member): string[] {
    const cluster = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    const dial = this.members
      .filter((x) => x !== m)
      .map((x) => `${x.name}=${LOOPBACK}:${this.proxies.get(`${m.name}>${x.name}`)!.port}`)
      .join(',');
    return [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', cluster,
      '--initial-cluster-token', this.token,
      '--peer-dial', dial,
      ...(this.options.args ?? []),
    ];
  }

  member(name: string): Member {
    const m = this.members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  }

  running(): Member[] {
    return this.members.filter((m) => m.state === 'running');
  }

  /** Cuts (or heals) the one-way link on which `from` sends to `to`. */
  cutLink(from: Member, to: Member, cut = true): void {
    const p = this.proxies.get(`${from.name}>${to.name}`);
    if (p === undefined) throw new Error(`no link ${from.name}>${to.name}`);
    this.setDropped(`${from.name}>${to.name}`, cut);
    p.enforce();
  }

  /** Cuts (or heals) every link to and from `m`. */
  isolate(m: Member, cut = true): void {
    for (const [key, p] of this.proxies) {
      const [from, to] = key.split('>');
      if (from === m.name || to === m.name) {
        this.setDropped(key, cut);
        p.enforce();
      }
    }
  }

  private setDropped(link: string, cut: boolean): void {
    if (cut) this.dropped.add(link);
    else this.dropped.delete(link);
  }

  /**
   * The member every running member in `among` names as leader (by Maintenance.Status), once
   * they agree. Leader election has no event visible from outside: this polls, bounded.
   */
  async leader(among: Member[] = this.running(), timeoutMs = 20_000): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    let views: string[] = [];
    while (Date.now() < deadline) {
      views = await Promise.all(among.map((m) => m.status(500).then((s) => s.leader, () => '?')));
      const lead = views[0];
      if (lead !== undefined && lead !== '0' && lead !== '?' && views.every((v) => v === lead)) {
        for (const m of among) {
          const s = await m.status(500).catch(() => undefined);
          if (s?.memberId === lead) return m;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no agreed leader within ${timeoutMs} ms (views: ${views.join(' ')})`);
  }

  followers(leader: Member): Member[] {
    return this.running().filter((m) => m !== leader);
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.stop('SIGKILL').catch(() => {})));
    for (const m of this.members) m.closeRpc();
    await Promise.all([...this.proxies.values()].map((p) => p.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }

  logs(): string {
    return this.members.map((m) => `--- ${m.name} (pid ${m.pid}) ---\n${m.logs.slice(-30).join('\n')}`).join('\n');
  }
}
