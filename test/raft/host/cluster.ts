// Three RaftHosts on loopback with temp dirs, for tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeId } from '../../../src/raft/index.js';
import { RaftHost, type RaftHostOptions, type StateMachine } from '../../../src/raft/host/index.js';
import type { PeerAddress } from '../../../src/raft/transport/index.js';

/** Resolves `until(pred)` once `pred` holds, re-checked on every `notify()`. */
export class Condition {
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];
  notify(): void {
    this.waiters = this.waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true));
  }
  until(pred: () => boolean): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
}

/** A state machine that records every command; notifies `changed` on each apply. */
export class LogMachine implements StateMachine<number> {
  commands: string[] = [];
  /** Log indexes of the snapshots restored (at start or received from the leader). */
  restoredAt: number[] = [];
  constructor(private readonly changed: Condition) {}
  apply(command: Uint8Array): number {
    this.commands.push(Buffer.from(command).toString());
    this.changed.notify();
    return this.commands.length;
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify(this.commands));
  }
  restore(image: Uint8Array, index: number): void {
    this.restoredAt.push(index);
    this.commands = image.length === 0 ? [] : (JSON.parse(Buffer.from(image).toString()) as string[]);
    this.changed.notify();
  }
}

export class TestCluster {
  readonly changed = new Condition();
  readonly hosts = new Map<NodeId, RaftHost<number>>();
  readonly machines = new Map<NodeId, LogMachine>();
  private readonly addresses = new Map<NodeId, PeerAddress>();
  private readonly dirs = new Map<NodeId, string>();
  private root = '';

  constructor(
    readonly ids: NodeId[],
    private readonly extra: Partial<RaftHostOptions<number>> = {},
  ) {}

  async start(): Promise<void> {
    this.root = await mkdtemp(join(tmpdir(), 'shoal-raft-host-'));
    for (const id of this.ids) this.dirs.set(id, join(this.root, `n${id}`));
    for (const id of this.ids) await this.startNode(id);
    for (const [id, host] of this.hosts) for (const [peer, addr] of this.addresses) if (peer !== id) host.addPeer(peer, addr);
  }

  /** Starts (or restarts, on its old port and directory) one node with a fresh state machine. */
  async startNode(id: NodeId): Promise<RaftHost<number>> {
    const machine = new LogMachine(this.changed);
    const old = this.addresses.get(id);
    const peers = new Map([...this.addresses].filter(([p]) => p !== id));
    const host = await RaftHost.start<number>({
      id,
      clusterId: 'test',
      dir: this.dirs.get(id) as string,
      voters: this.ids,
      peers,
      port: old?.port ?? 0,
      stateMachine: machine,
      tickMs: 20,
      sync: true,
      onLeaderChange: () => this.changed.notify(),
      ...this.extra,
    });
    this.hosts.set(id, host);
    this.machines.set(id, machine);
    this.addresses.set(id, host.address);
    return host;
  }

  async stopNode(id: NodeId): Promise<void> {
    await this.hosts.get(id)?.close();
    this.hosts.delete(id);
    this.changed.notify();
  }

  /** The leader every running node agrees on, once there is one. */
  async leader(): Promise<RaftHost<number>> {
    let found: RaftHost<number> | undefined;
    await this.changed.until(() => {
      const running = [...this.hosts.values()];
      const leaders = running.filter((h) => h.status().role === 'leader');
      if (leaders.length !== 1) return false;
      const lead = leaders[0].status().id;
      if (!running.every((h) => h.status().lead === lead)) return false;
      found = leaders[0];
      return true;
    });
    return found as RaftHost<number>;
  }

  /** Waits until node `id`'s state machine holds `count` commands. */
  applied(id: NodeId, count: number): Promise<void> {
    return this.changed.until(() => (this.machines.get(id)?.commands.length ?? 0) >= count);
  }

  async close(): Promise<void> {
    for (const id of [...this.hosts.keys()]) await this.stopNode(id);
    if (this.root !== '') await rm(this.root, { recursive: true, force: true });
  }
}
