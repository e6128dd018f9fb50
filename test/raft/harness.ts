// A small deterministic in-process network for Raft scenario tests (like etcd's raft_test
// `network`): nodes run the real host loop against MemoryStorage, messages are delivered FIFO
// until the cluster is quiet, links can be cut, message kinds dropped, and the only randomness
// is a seeded PRNG.
import {
  MemoryStorage,
  RaftNode,
  decodeConfChange,
  type ConfState,
  type Entry,
  type Message,
  type MessageType,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Snapshot,
} from '../../src/raft/index.js';
import { seededRng } from '../../src/balance/index.js';

/** Seeded PRNG returning [0, 1): the balancer's mulberry32, the algorithm scenario seeds were recorded with. */
export const seededRandom: (seed: number) => () => number = seededRng;

export type NodeOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>>;
export type NodeFactory = (config: RaftConfig) => RaftNode;

const enc = new TextEncoder();
const dec = new TextDecoder();
export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (b: Uint8Array): string => dec.decode(b);

export function confOf(voters: NodeId[], learners: NodeId[] = []): ConfState {
  return { voters, learners, votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** One member: its node, the storage it reads, and a trivial state machine (a list of strings). */
export class Peer {
  applied: string[] = [];
  appliedIndex = 0;
  readStates: ReadState[] = [];
  conf: ConfState;
  restoredSnapshots = 0;

  constructor(
    public node: RaftNode,
    readonly storage: MemoryStorage,
  ) {
    // A (re)started node rebuilds its state machine from the stored snapshot, then the log.
    const snap = storage.snapshot();
    this.conf = snap.meta.conf;
    this.appliedIndex = snap.meta.index;
    this.applied = snap.data.length === 0 ? [] : (JSON.parse(text(snap.data)) as string[]);
  }

  get id(): NodeId {
    return this.node.id;
  }

  /** Runs one iteration of the host loop. Returns the messages to send. */
  handleReady(): Message[] {
    const rd = this.node.ready();
    // 1. persist (here: straight into the storage the node reads)
    if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
    this.storage.append(rd.entries);
    if (rd.hardState) this.storage.setHardState(rd.hardState);
    // 4. apply
    if (rd.snapshot) this.restore(rd.snapshot);
    for (const e of rd.committedEntries) this.apply(e);
    this.readStates.push(...rd.readStates);
    // 5. advance; 2 and 3 (sending) are done by the network after this returns.
    this.node.advance(rd);
    return [...rd.messages, ...rd.messagesAfterPersist];
  }

  private restore(s: Snapshot): void {
    this.applied = s.data.length === 0 ? [] : (JSON.parse(text(s.data)) as string[]);
    this.appliedIndex = s.meta.index;
    this.conf = s.meta.conf;
    this.restoredSnapshots++;
  }

  private apply(e: Entry): void {
    if (e.index !== this.appliedIndex + 1) throw new Error(`node ${this.id} applies ${e.index} after ${this.appliedIndex}`);
    this.appliedIndex = e.index;
    if (e.type === 'confChange') this.conf = this.node.applyConfChange(decodeConfChange(e.data));
    else if (e.data.length > 0) this.applied.push(text(e.data));
  }

  /** Takes a snapshot of the state machine at its applied index and compacts the log there. */
  snapshotAndCompact(): Snapshot {
    const snap = this.storage.createSnapshot(this.appliedIndex, this.conf, bytes(JSON.stringify(this.applied)));
    this.storage.compact(this.appliedIndex);
    return snap;
  }
}

export interface NetworkOptions extends NodeOptions {
  seed?: number;
  factory?: NodeFactory;
}

export class Network {
  readonly peers = new Map<NodeId, Peer>();
  /** Every message delivered (for assertions on traffic). */
  readonly delivered: Message[] = [];
  private readonly cut = new Set<string>();
  private readonly ignored = new Set<MessageType>();
  /** Extra filter: return false to drop a message. */
  filter: ((m: Message) => boolean) | undefined;
  private readonly rng: () => number;

  constructor(readonly options: NetworkOptions = {}) {
    this.rng = seededRandom(options.seed ?? 1);
  }

  /** A cluster whose founding voters are `ids`. */
  static of(ids: NodeId[], options: NetworkOptions = {}): Network {
    const net = new Network(options);
    for (const id of ids) net.add(id, MemoryStorage.bootstrap(confOf(ids)));
    return net;
  }

  config(id: NodeId, storage: MemoryStorage, extra: NodeOptions = {}): RaftConfig {
    const { seed: _seed, factory: _factory, ...opts } = this.options;
    void _seed;
    void _factory;
    return {
      electionTick: 10,
      heartbeatTick: 1,
      maxInflightMsgs: 256,
      ...opts,
      ...extra,
      id,
      storage,
      random: seededRandom((this.options.seed ?? 1) * 1000 + id + this.rng() * 1e6),
    };
  }

  add(id: NodeId, storage: MemoryStorage, extra: NodeOptions = {}, factory?: NodeFactory): Peer {
    const make = factory ?? this.options.factory ?? ((c: RaftConfig) => new RaftNode(c));
    const peer = new Peer(make(this.config(id, storage, extra)), storage);
    this.peers.set(id, peer);
    return peer;
  }

  /** Restarts a node from what it persisted (its state machine is rebuilt from the log). */
  restart(id: NodeId, factory?: NodeFactory): Peer {
    const old = this.peer(id);
    return this.add(id, old.storage, {}, factory);
  }

  peer(id: NodeId): Peer {
    const p = this.peers.get(id);
    if (p === undefined) throw new Error(`no peer ${id}`);
    return p;
  }

  node(id: NodeId): RaftNode {
    return this.peer(id).node;
  }

  /** Chaos: deliver in random order, duplicate, and hold back messages to a later send(). */
  chaos = { reorder: false, duplicateRate: 0, delayRate: 0 };
  private delayed: Message[] = [];

  /** Delivers `msgs` and everything they cause until no node has anything to do. */
  send(msgs: Message[] = []): void {
    const queue = [...this.delayed, ...msgs];
    this.delayed = [];
    for (let rounds = 0; ; rounds++) {
      if (rounds > 100_000) {
        const tail = this.delivered.slice(-6).map((m) => `${m.type} ${m.from}->${m.to} t${m.term} i${m.index}`);
        throw new Error(`network did not quiesce; last delivered: ${tail.join(', ')}`);
      }
      for (const p of this.peers.values()) {
        while (p.node.hasReady()) queue.push(...p.handleReady());
      }
      if (queue.length === 0) return;
      const at = this.chaos.reorder ? Math.floor(this.rng() * queue.length) : 0;
      const m = queue.splice(at, 1)[0]!;
      if (this.chaos.delayRate > 0 && this.rng() < this.chaos.delayRate) {
        this.delayed.push(m);
        continue;
      }
      if (this.chaos.duplicateRate > 0 && this.rng() < this.chaos.duplicateRate) queue.push({ ...m });
      const ok = this.deliverable(m);
      if (ok) {
        this.delivered.push(m);
        this.peers.get(m.to)!.node.step(m);
      }
      // The sender's host reports how a snapshot transfer went (here: delivered or lost).
      if (m.type === 'snap') this.peers.get(m.from)?.node.reportSnapshot(m.to, ok);
    }
  }

  private deliverable(m: Message): boolean {
    if (!this.peers.has(m.to)) return false;
    if (this.cut.has(`${m.from}->${m.to}`)) return false;
    if (this.ignored.has(m.type)) return false;
    if (this.filter !== undefined && !this.filter(m)) return false;
    return true;
  }

  stabilize(): void {
    this.send([]);
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.node(id).tick();
      this.stabilize();
    }
  }

  tickAll(n = 1, ids: NodeId[] = [...this.peers.keys()]): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) this.node(id).tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.node(id).campaign();
    this.stabilize();
  }

  propose(id: NodeId, data: string): void {
    this.node(id).propose(bytes(data));
    this.stabilize();
  }

  /** Cuts both directions between a and b. */
  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}->${b}`);
    this.cut.add(`${b}->${a}`);
  }

  isolate(id: NodeId): void {
    for (const other of this.peers.keys()) if (other !== id) this.cutLink(id, other);
  }

  /** Splits the cluster into groups that can talk only among themselves. */
  partition(...groups: NodeId[][]): void {
    for (const g of groups) {
      for (const a of g) for (const h of groups) if (h !== g) for (const b of h) this.cutLink(a, b);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  ignore(type: MessageType): void {
    this.ignored.add(type);
  }

  recover(): void {
    this.chaos = { reorder: false, duplicateRate: 0, delayRate: 0 };
    this.cut.clear();
    this.ignored.clear();
    this.filter = undefined;
  }

  /** Random delivery failures from the seeded PRNG (for batching/flow tests). */
  dropRandomly(rate: number): void {
    this.filter = () => this.rng() >= rate;
  }

  leaders(): NodeId[] {
    return [...this.peers.values()].filter((p) => p.node.role === 'leader').map((p) => p.id);
  }

  /** The unique leader with the highest term. */
  leader(): NodeId {
    let best: Peer | undefined;
    for (const p of this.peers.values()) {
      if (p.node.role === 'leader' && (best === undefined || p.node.term > best.node.term)) best = p;
    }
    if (best === undefined) throw new Error('no leader');
    return best.id;
  }

  /** Safety checks over all pairs: log matching for committed prefixes, state-machine safety. */
  checkSafety(): void {
    const peers = [...this.peers.values()];
    for (const a of peers) {
      for (const b of peers) {
        if (a.id >= b.id) continue;
        const n = Math.min(a.applied.length, b.applied.length);
        for (let i = 0; i < n; i++) {
          if (a.applied[i] !== b.applied[i]) {
            throw new Error(`state machines of ${a.id} and ${b.id} differ at ${i}: ${a.applied[i]} vs ${b.applied[i]}`);
          }
        }
      }
    }
  }
}

export function logTerms(storage: MemoryStorage): number[] {
  const out: number[] = [];
  for (let i = storage.firstIndex(); i <= storage.lastIndex(); i++) out.push(storage.term(i));
  return out;
}

/** Storage holding a given log (terms of entries 1..n) and hard state, with `voters`. */
export function storageWithLog(voters: NodeId[], terms: number[], term = Math.max(0, ...terms)): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ meta: { index: 0, term: 0, conf: confOf(voters) }, data: new Uint8Array(0) });
  s.append(terms.map((t, i) => ({ term: t, index: i + 1, type: 'normal', data: bytes(`t${t}i${i + 1}`) })));
  s.setHardState({ term, vote: 0, commit: 0 });
  return s;
}
