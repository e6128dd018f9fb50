// Simulated clients: each issues one operation at a time (get, put or compare-and-set on a
// small key space) to the node it believes is the leader, and gives up after a timeout, which
// leaves the outcome unknown in the history. Every put writes a value unique in the run, so a
// read pins down which write it saw.

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
  timeout: number;
  thinkMax: number;
  send(clientId: number, to: number, req: ClientRequest): void;
}

export class SimClient {
  private seq = 0;
  private leader: number;
  private current: { req: ClientRequest; op: SimOperation } | undefined;
  /** Values this client has written, for cas expectations that sometimes match. */
  private lastSeen: number | null = null;
  stopped = false;
  /** Liveness probe mode: retry one write until it is acknowledged. */
  probe: { key: string; done: boolean; doneAt: number } | undefined;
  completed = 0;
  timedOut = 0;

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
    const req: ClientRequest = { reqId: `c${this.id}-${this.seq}-${this.env.queue.now}`, clientId: this.id, input };
    const op = this.env.history.call(this.id, input);
    this.current = { req, op };
    this.env.send(this.id, this.leader, req);
    this.env.queue.after(this.env.timeout, () => {
      if (this.current?.req !== req) return;
      // No answer: the request may still commit later, or never. The history keeps it open.
      this.current = undefined;
      this.timedOut++;
      this.leader = this.rng.range(1, this.env.nodes);
      this.issue();
    });
  }

  onResponse(from: number, r: ClientResponse): void {
    const cur = this.current;
    if (!cur || cur.req.reqId !== r.reqId) return; // late answer to a request already given up
    this.current = undefined;
    if (r.ok) {
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
    } else {
      // Rejected before being proposed: it never takes effect, so it is not part of the history.
      this.env.history.discard(cur.op);
      this.leader = r.leaderHint > 0 && r.leaderHint !== from ? r.leaderHint : this.rng.range(1, this.env.nodes);
    }
    this.env.queue.after(this.rng.range(1, this.env.thinkMax), () => this.issue());
  }
}
