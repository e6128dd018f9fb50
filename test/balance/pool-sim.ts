// A small discrete-event simulation of a pool of instances behind one client-side balancer.
// Each instance has a fixed number of workers and a FIFO queue; service times are exponential
// around the instance's mean. Requests arrive at a fixed rate. The clock is the simulation's.
import { seededRng, type Endpoint, type Strategy } from '../../src/balance/index.js';

export interface PoolConfig {
  instances: { id: string; meanServiceMs: number; workers: number }[];
  arrivalIntervalMs: number;
  requests: number;
  seed: number;
}

interface Event {
  t: number;
  seq: number;
  run: () => void;
}

class EventQueue {
  private heap: Event[] = [];
  private seq = 0;

  push(t: number, run: () => void): void {
    const h = this.heap;
    h.push({ t, seq: this.seq++, run });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): Event | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  private less(a: Event, b: Event): boolean {
    return a.t < b.t || (a.t === b.t && a.seq < b.seq);
  }
}

export interface PoolResult {
  latencies: Float64Array;
  perInstance: Map<string, number>;
}

/** Runs the pool with the given strategy; `makeStrategy` receives the simulation's clock. */
export function simulatePool(config: PoolConfig, makeStrategy: (clock: () => number) => Strategy): PoolResult {
  let now = 0;
  const strategy = makeStrategy(() => now);
  const events = new EventQueue();
  // Service-time draws are made per request in arrival order from their own stream, so every
  // strategy sees the same "luck" (common random numbers) and only the routing differs.
  const serviceRng = seededRng(config.seed);
  const endpoints: Endpoint[] = config.instances.map((i) => ({ id: i.id }));
  const state = config.instances.map((i) => ({ ...i, busy: 0, queue: [] as (() => void)[] }));
  const latencies = new Float64Array(config.requests);
  const perInstance = new Map<string, number>();

  const startWork = (k: number, work: () => void): void => {
    const s = state[k]!;
    if (s.busy < s.workers) {
      s.busy++;
      work();
    } else {
      s.queue.push(work);
    }
  };
  const finishWork = (k: number): void => {
    const s = state[k]!;
    const next = s.queue.shift();
    if (next !== undefined) next();
    else s.busy--;
  };

  for (let r = 0; r < config.requests; r++) {
    events.push(r * config.arrivalIntervalMs, () => {
      const sentAt = now;
      const u = serviceRng();
      const endpoint = strategy.pick(endpoints, {});
      if (endpoint === undefined) throw new Error('pool has endpoints; pick must not be undefined');
      const k = endpoints.indexOf(endpoint);
      perInstance.set(endpoint.id, (perInstance.get(endpoint.id) ?? 0) + 1);
      strategy.onStart(endpoint);
      startWork(k, () => {
        const service = -state[k]!.meanServiceMs * Math.log(1 - u);
        events.push(now + service, () => {
          finishWork(k);
          const latencyMs = now - sentAt;
          latencies[r] = latencyMs;
          strategy.onEnd(endpoint, { latencyMs, ok: true });
        });
      });
    });
  }
  for (let e = events.pop(); e !== undefined; e = events.pop()) {
    if (e.t < now) throw new Error('simulation clock went backwards');
    now = e.t;
    e.run();
  }
  return { latencies, perInstance };
}

export function percentile(values: Float64Array, p: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
