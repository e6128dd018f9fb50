import type { CallOutcome, Clock, Endpoint, Rng, Strategy } from './types.js';

export interface P2CEwmaOptions {
  rng: Rng;
  clock: Clock;
  /** Time constant of the decay: an observation's weight falls to 1/e after this long. */
  decayMs?: number;
  /** Cost of an endpoint with no latency data that already has a call in flight. */
  unknownBusyPenaltyMs?: number;
  /** A failed call counts as at least this slow, so a fast-failing endpoint does not attract traffic. */
  failureLatencyMs?: number;
}

interface Stats {
  inFlight: number;
  /** Peak-EWMA latency as of `at`; undefined until the first completion. */
  ewmaMs: number | undefined;
  at: number;
}

/**
 * Power of two choices over peak-EWMA latency × (in-flight + 1), after Finagle's and tower's
 * PeakEwma. The estimate jumps up at once to a slower sample (peak) and otherwise moves towards
 * samples with a weight set by the time since the last one; between samples it decays towards
 * zero, so an endpoint that was avoided for a while is probed again rather than shunned forever.
 * An endpoint with no data costs 0 while idle (it gets one probe) and a large penalty while that
 * probe is outstanding — a new instance is neither flooded nor starved.
 */
export class P2CEwma implements Strategy {
  readonly name = 'p2c-ewma';
  private readonly stats = new Map<string, Stats>();
  private readonly rng: Rng;
  private readonly clock: Clock;
  private readonly decayMs: number;
  private readonly unknownBusyPenaltyMs: number;
  private readonly failureLatencyMs: number;

  constructor(options: P2CEwmaOptions) {
    this.rng = options.rng;
    this.clock = options.clock;
    this.decayMs = options.decayMs ?? 10_000;
    this.unknownBusyPenaltyMs = options.unknownBusyPenaltyMs ?? 1_000_000;
    this.failureLatencyMs = options.failureLatencyMs ?? 1_000;
    if (!(this.decayMs > 0)) throw new RangeError('p2c-ewma: decayMs must be > 0');
  }

  pick<E extends Endpoint>(endpoints: readonly E[]): E | undefined {
    const n = endpoints.length;
    if (n <= 1) return endpoints[0];
    const i = Math.min(n - 1, Math.floor(this.rng() * n));
    // A second index uniformly among the other n-1.
    let j = Math.min(n - 2, Math.floor(this.rng() * (n - 1)));
    if (j >= i) j++;
    const a = endpoints[i]!;
    const b = endpoints[j]!;
    const now = this.clock();
    return this.cost(b.id, now) < this.cost(a.id, now) ? b : a;
  }

  forget(endpointId: string): void {
    const s = this.stats.get(endpointId);
    if (s === undefined) return;
    if (s.inFlight === 0) this.stats.delete(endpointId);
    else s.ewmaMs = undefined;
  }

  onStart(endpoint: Endpoint): void {
    const s = this.statsOf(endpoint.id);
    s.inFlight++;
  }

  onEnd(endpoint: Endpoint, outcome: CallOutcome): void {
    const s = this.stats.get(endpoint.id);
    if (s === undefined || s.inFlight === 0) {
      throw new Error(`p2c-ewma: onEnd(${endpoint.id}) without onStart`);
    }
    s.inFlight--;
    const now = this.clock();
    const sample = outcome.ok ? outcome.latencyMs : Math.max(outcome.latencyMs, this.failureLatencyMs);
    if (s.ewmaMs === undefined || sample > s.ewmaMs) {
      s.ewmaMs = sample;
    } else {
      const w = Math.exp(-Math.max(0, now - s.at) / this.decayMs);
      s.ewmaMs = s.ewmaMs * w + sample * (1 - w);
    }
    s.at = now;
  }

  /** The current cost of an endpoint (lower is better); exposed for tests and metrics. */
  cost(id: string, now: number = this.clock()): number {
    const s = this.stats.get(id);
    if (s === undefined) return 0;
    if (s.ewmaMs === undefined) return s.inFlight === 0 ? 0 : this.unknownBusyPenaltyMs + s.inFlight;
    const latency = s.ewmaMs * Math.exp(-Math.max(0, now - s.at) / this.decayMs);
    return latency * (s.inFlight + 1);
  }

  private statsOf(id: string): Stats {
    let s = this.stats.get(id);
    if (s === undefined) {
      s = { inFlight: 0, ewmaMs: undefined, at: this.clock() };
      this.stats.set(id, s);
    }
    return s;
  }
}
