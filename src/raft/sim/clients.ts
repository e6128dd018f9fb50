// Simulated clients: each issues one operation at a time (get, put or compare-and-set on a
// small key space) to the node it believes is the leader. An attempt that gets no answer
// within the timeout is retried, with the same request id, at another node: the state machine
// applies a request id at most once and answers a retry with the first outcome (the thesis'
// client sessions), so retries do not turn one operation into two. After a failed attempt the
// client sometimes gives up (`giveUp`), leaving the outcome unknown in the history, but at most
// `maxGiveUps` times per run: each unknown outcome stays a candidate everywhere after its call,
// and a long outage would otherwise flood the history with them and make checking it
// exponential. It never gives up once faults have stopped, so every operation then resolves. Every put writes a value unique
// in the run, so a read pins down which write it saw.

import type { KvInput } from '../../lincheck/index.js';
import type { EventQueue } from './event-queue.js';
import type { HistoryRecorder, SimOperation } from './history.js';
import type { Prng } from './prng.js';
import type { ClientRequest, ClientResponse } from './wire.js';

export interface ClientEnv {
  queue: EventQueue;
  history: HistoryRecorder;
  nodes: number;
  keys: number;
  /** Per attempt. */
  timeout: number;
  /** Chance of giving up after an attempt times out, while faults are on. */
  giveUp: number;
  maxGiveUps: number;
  thinkMax: number;
  send(clientId: number, to: number, req: ClientRequest): void;
}

interface InFlight {
  req: ClientRequest;
  op: SimOperation;
  attempt: number;
  /** The attempt whose answer is awaited (its timeout is live), if any. */
  waiting: object | undefined;
  /** Some attempt may have reached a node that proposed it: its fate is then unknown. */
  maybeProposed: boolean;
}

export class SimClient {
  private seq = 0;
  private opSeq = 0;
  private leader: number;
  private current: InFlight | undefined;
  private lastSeen: number | null = null;
  stopped = false;
  /** Liveness probe mode: write once (retrying without limit) and record when acknowledged. */
  probe: { key: string; done: boolean; doneAt: number } | undefined;
  completed = 0;
  gaveUp = 0;

  constructor(
    readonly id: number,
    private readonly env: ClientEnv,
    private readonly rng: Prng,
  ) {
    this.leader = rng.range(1, env.nodes);
  }

  start(): void {
    this.env.queue.after(this.rng.range(0, this.env.thinkMax), () => this.issue());
  }

  private nextInput(): KvInput {
    if (this.probe) return { key: this.probe.key, type: 'put', value: this.id * 1_000_000 + ++this.seq };
    const key = `k${this.rng.int(this.env.keys)}`;
    const r = this.rng.float();
    if (r < 0.45) return { key, type: 'get' };
    const value = this.id * 1_000_000 + ++this.seq;
    if (r < 0.8) return { key, type: 'put', value };
    return { key, type: 'cas', expect: this.rng.chance(0.3) ? null : this.lastSeen, value };
  }

  private issue(): void {
    if (this.current || (this.stopped && !this.probe) || this.probe?.done) return;
    const input = this.nextInput();
    const seq = ++this.opSeq;
    const req: ClientRequest = { reqId: `${this.id}:${seq}`, clientId: this.id, seq, input };
    this.current = { req, op: this.env.history.call(this.id, input), attempt: 0, waiting: undefined, maybeProposed: false };
    this.attempt();
  }

  private attempt(): void {
    const cur = this.current!;
    cur.attempt++;
    const token = {};
    cur.waiting = token;
    this.env.send(this.id, this.leader, cur.req);
    this.env.queue.after(this.env.timeout, () => {
      if (this.current !== cur || cur.waiting !== token) return;
      cur.waiting = undefined;
      cur.maybeProposed = true;
      this.leader = this.rng.range(1, this.env.nodes);
      this.retryOrGiveUp(cur);
    });
  }

  private retryOrGiveUp(cur: InFlight): void {
    const mayGiveUp = !this.stopped && !this.probe && this.gaveUp < this.env.maxGiveUps;
    if (!mayGiveUp || !this.rng.chance(this.env.giveUp)) {
      this.env.queue.after(this.rng.range(1, this.env.thinkMax), () => {
        if (this.current === cur) this.attempt();
      });
      return;
    }
    this.current = undefined;
    if (cur.maybeProposed) {
      this.gaveUp++; // The history keeps it open: it may take effect later, or never.
    } else {
      this.env.history.discard(cur.op); // Every attempt was refused before being proposed.
    }
    this.env.queue.after(this.rng.range(1, this.env.thinkMax), () => this.issue());
  }

  onResponse(from: number, r: ClientResponse): void {
    const cur = this.current;
    if (!cur || cur.req.reqId !== r.reqId) return; // late answer to an operation already given up
    if (!r.ok) {
      // Refused before being proposed; earlier attempts may still have been.
      if (cur.waiting === undefined) return; // this attempt already timed out and was retried
      cur.waiting = undefined;
      this.leader = r.leaderHint > 0 && r.leaderHint !== from ? r.leaderHint : this.rng.range(1, this.env.nodes);
      this.retryOrGiveUp(cur);
      return;
    }
    this.current = undefined;
    this.env.history.complete(cur.op, r.output);
    this.completed++;
    this.leader = from;
    if (cur.req.input.type === 'get' && typeof r.output === 'number') this.lastSeen = r.output;
    if (cur.req.input.type === 'put') this.lastSeen = cur.req.input.value as number;
    if (this.probe) {
      this.probe.done = true;
      this.probe.doneAt = this.env.queue.now;
      return;
    }
    this.env.queue.after(this.rng.range(1, this.env.thinkMax), () => this.issue());
  }
}
