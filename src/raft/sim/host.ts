// One node's host loop, doing exactly what a real host does with the core (types.ts, Ready):
// write snapshot/entries/hardState to the disk, send `messages` at once, fsync (a simulated
// delay), then make the writes visible to MemoryStorage, send `messagesAfterPersist`, restore
// and apply, serve reads, and advance. Until the fsync completes the node keeps ticking and
// stepping but gets no new Ready, as with etcd's synchronous host loop.

import { MemoryStorage, ProposalDroppedError } from '../index.js';
import type { ConfState, Entry, Message, RaftConfig, Ready, Role } from '../types.js';
import { Disk } from './disk.js';
import type { EventQueue } from './event-queue.js';
import { KvMachine, encodeCommand } from './kv-machine.js';
import type { SafetyMonitor } from './checks.js';
import type { Network } from './network.js';
import type { NodeFactory, SimRaftNode } from './node-api.js';
import type { Prng } from './prng.js';
import type { ClientRequest, ClientResponse } from './wire.js';

export interface HostOptions {
  electionTick: number;
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Take a state-machine snapshot every this many applied entries. */
  snapshotEvery: number;
  /** Entries kept in the log behind a snapshot, for followers slightly behind. */
  keepEntries: number;
  maxSizePerMsg: number;
  fsyncMin: number;
  fsyncMax: number;
}

export interface HostEnv {
  queue: EventQueue;
  network: Network;
  monitor: SafetyMonitor;
  factory: NodeFactory;
  conf: ConfState;
  options: HostOptions;
  deliverToNode(to: number, m: Message): void;
  respond(clientId: number, from: number, r: ClientResponse): void;
  onLeaderElected(id: number): void;
  onLeaderCommitted(id: number): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class NodeHost {
  up = true;
  node!: SimRaftNode;
  storage!: MemoryStorage;
  readonly disk = new Disk();
  kv = new KvMachine();
  applied = 0;
  role: Role = 'follower';
  lead = 0;
  term = 0;
  /** Bumped by every crash, so callbacks scheduled before it (an fsync) become no-ops. */
  incarnation = 0;
  private busy = false;
  private pendingWrites = new Map<string, ClientRequest>();
  private pendingReads = new Map<string, ClientRequest>();
  private readsWaiting: { index: number; req: ClientRequest }[] = [];
  crashes = 0;
  snapshotsInstalled = 0;

  constructor(
    readonly id: number,
    private readonly env: HostEnv,
    private readonly rng: Prng,
  ) {
    const boot = MemoryStorage.bootstrap(env.conf);
    this.disk.write({ kind: 'ready', snapshot: boot.snapshot(), entries: [], hardState: boot.initialState().hardState });
    this.disk.sync();
    this.start();
  }

  /** Builds the node from what the disk recovered (also the restart path). */
  private start(): void {
    const rec = this.disk.recover();
    const storage = new MemoryStorage();
    if (rec.snapshot) storage.applySnapshot(rec.snapshot);
    if (rec.hardState) storage.setHardState(rec.hardState);
    storage.append(rec.entries);
    this.storage = storage;
    this.kv = new KvMachine();
    this.kv.restore(storage.snapshot().data);
    this.applied = storage.snapshot().meta.index;
    this.term = rec.hardState?.term ?? 0;
    this.role = 'follower';
    this.lead = 0;
    const o = this.env.options;
    const config: RaftConfig = {
      id: this.id,
      storage,
      electionTick: o.electionTick,
      heartbeatTick: o.heartbeatTick,
      random: () => this.rng.float(),
      applied: this.applied,
      maxSizePerMsg: o.maxSizePerMsg,
      maxInflightMsgs: 64,
      preVote: o.preVote,
      checkQuorum: o.checkQuorum,
      readOnlyOption: 'safe',
    };
    this.node = this.env.factory(config);
    this.env.monitor.onRestore(this.id, storage.snapshot().meta.index, storage.snapshot().meta.term, this.kv.hash);
  }

  crash(): void {
    if (!this.up) return;
    this.up = false;
    this.crashes++;
    this.incarnation++;
    this.busy = false;
    this.pendingWrites.clear();
    this.pendingReads.clear();
    this.readsWaiting = [];
    this.disk.crash(this.rng);
  }

  restart(): void {
    if (this.up) return;
    this.up = true;
    this.start();
  }

  tick(): void {
    if (!this.up) return;
    this.node.tick();
    this.pump();
  }

  receive(m: Message): void {
    if (!this.up) return;
    this.node.step(m);
    this.pump();
  }

  clientRequest(req: ClientRequest): void {
    if (!this.up) return;
    const i = req.input;
    if (this.lead === 0) {
      // No leader known: refuse at once, as etcd's server does, without asking the core.
      this.env.respond(req.clientId, this.id, { reqId: req.reqId, ok: false, leaderHint: 0 });
      return;
    }
    try {
      if (i.type === 'get') {
        this.node.readIndex(encoder.encode(req.reqId));
        this.pendingReads.set(req.reqId, req);
      } else {
        const cmd =
          i.type === 'put'
            ? ({ client: req.clientId, seq: req.seq, op: 'put', key: i.key, value: i.value as number } as const)
            : ({ client: req.clientId, seq: req.seq, op: 'cas', key: i.key, expect: i.expect as number | null, value: i.value as number } as const);
        this.node.propose(encodeCommand(cmd));
        this.pendingWrites.set(req.reqId, req);
      }
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      this.env.respond(req.clientId, this.id, { reqId: req.reqId, ok: false, leaderHint: this.lead });
    }
    this.pump();
  }

  private pump(): void {
    while (this.up && !this.busy && this.node.hasReady()) {
      const rd = this.node.ready();
      this.handle(rd);
    }
  }

  private handle(rd: Ready): void {
    const monitor = this.env.monitor;
    if (rd.hardState) this.term = rd.hardState.term;
    if (rd.softState) {
      this.role = rd.softState.role;
      this.lead = rd.softState.lead;
      if (this.role === 'leader') {
        monitor.onLeader(this.id, this.term, this.logTerms(rd));
        this.env.onLeaderElected(this.id);
      }
    }
    if (rd.hardState && this.role === 'leader' && rd.committedEntries.length > 0) this.env.onLeaderCommitted(this.id);
    if (rd.entries.length > 0) monitor.onAppend(this.id, rd.entries);

    if (rd.snapshot || rd.entries.length > 0 || rd.hardState) {
      this.disk.write({
        kind: 'ready',
        entries: rd.entries,
        ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
        ...(rd.hardState ? { hardState: rd.hardState } : {}),
      });
    }
    this.send(rd.messages);

    if (rd.mustSync || rd.snapshot) {
      this.busy = true;
      const inc = this.incarnation;
      const o = this.env.options;
      this.env.queue.after(this.rng.range(o.fsyncMin, o.fsyncMax), () => {
        if (inc !== this.incarnation) return;
        this.disk.sync();
        this.busy = false;
        this.finish(rd);
        this.pump();
      });
    } else {
      this.finish(rd);
    }
  }

  /** Steps 1 (visibility) and 3-5 of the Ready contract, once the writes are durable. */
  private finish(rd: Ready): void {
    const monitor = this.env.monitor;
    if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) this.storage.append(rd.entries);
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    this.send(rd.messagesAfterPersist);

    if (rd.snapshot) {
      this.snapshotsInstalled++;
      this.kv.restore(rd.snapshot.data);
      this.applied = rd.snapshot.meta.index;
      monitor.onRestore(this.id, rd.snapshot.meta.index, rd.snapshot.meta.term, this.kv.hash);
    }
    for (const e of rd.committedEntries) this.apply(e);
    for (const rs of rd.readStates) {
      const req = this.pendingReads.get(decoder.decode(rs.context));
      if (!req) continue;
      this.pendingReads.delete(req.reqId);
      this.readsWaiting.push({ index: rs.index, req });
    }
    this.serveReads();
    this.node.advance(rd);
    this.maybeSnapshot();
  }

  private apply(e: Entry): void {
    if (e.index <= this.applied) {
      throw new Error(`node ${this.id}: entry ${e.index} handed out again after applying ${this.applied}`);
    }
    if (e.index !== this.applied + 1) throw new Error(`node ${this.id}: applying ${e.index} after ${this.applied}`);
    const out = this.kv.apply(e);
    this.applied = e.index;
    this.env.monitor.onApply(this.id, e, this.kv.hash, this.term);
    if (out) {
      const id = `${out.client}:${out.seq}`;
      const req = this.pendingWrites.get(id);
      if (req) {
        this.pendingWrites.delete(id);
        this.env.respond(req.clientId, this.id, { reqId: req.reqId, ok: true, output: out.result });
      }
    }
  }

  private serveReads(): void {
    if (this.readsWaiting.length === 0) return;
    const still: { index: number; req: ClientRequest }[] = [];
    for (const w of this.readsWaiting) {
      if (w.index <= this.applied) {
        this.env.respond(w.req.clientId, this.id, { reqId: w.req.reqId, ok: true, output: this.kv.get(w.req.input.key) });
      } else {
        still.push(w);
      }
    }
    this.readsWaiting = still;
  }

  private maybeSnapshot(): void {
    const o = this.env.options;
    const snap = this.storage.snapshot();
    if (this.applied - snap.meta.index < o.snapshotEvery) return;
    const taken = this.storage.createSnapshot(this.applied, snap.meta.conf, this.kv.snapshot());
    // The snapshot file is fsynced before the log may forget what it covers.
    this.disk.write({ kind: 'snapshotCompact', snapshot: taken });
    this.disk.sync();
    const upTo = this.applied - o.keepEntries;
    if (upTo >= this.storage.firstIndex()) this.storage.compact(upTo);
    this.disk.compact();
  }

  private send(ms: Message[]): void {
    for (const m of ms) {
      if (m.type === 'snap') {
        // The transport reports a snapshot's fate back to the sender's node, as etcd's does.
        const from = this.id;
        const inc = this.incarnation;
        const delivered = !this.env.network.isCut(from, m.to);
        this.env.deliverToNode(m.to, m);
        this.env.queue.after(1, () => {
          if (inc !== this.incarnation || !this.up) return;
          this.node.reportSnapshot(m.to, delivered);
          this.pump();
        });
      } else {
        this.env.deliverToNode(m.to, m);
      }
    }
  }

  /** The log as the node sees it once this Ready is persisted: for leader completeness. */
  private logTerms(rd: Ready): { snapIndex: number; terms: number[] } {
    const snapIndex = rd.snapshot ? rd.snapshot.meta.index : this.storage.firstIndex() - 1;
    const terms: number[] = [];
    if (!rd.snapshot) {
      const last = this.storage.lastIndex();
      for (let i = snapIndex + 1; i <= last; i++) terms.push(this.storage.term(i));
    }
    for (const e of rd.entries) terms[e.index - snapIndex - 1] = e.term;
    if (rd.entries.length > 0) terms.length = rd.entries[rd.entries.length - 1]!.index - snapIndex;
    return { snapIndex, terms };
  }

  /** For checks: the stable log's terms (and data hashes) from firstIndex - 1 on. */
  stableLog(): { first: number; entries: Entry[] } {
    const first = this.storage.firstIndex();
    return { first, entries: this.storage.entries(first, this.storage.lastIndex() + 1) };
  }
}
