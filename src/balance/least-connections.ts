import { randomIndex, type CallOutcome, type Endpoint, type Rng, type Strategy } from './types.js';

/** Picks the endpoint with the fewest calls in flight (from onStart/onEnd); ties broken randomly. */
export class LeastConnections implements Strategy {
  readonly name = 'least-connections';
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly rng: Rng) {}

  pick<E extends Endpoint>(endpoints: readonly E[]): E | undefined {
    let min = Infinity;
    const tied: E[] = [];
    for (const e of endpoints) {
      const load = this.inFlight.get(e.id) ?? 0;
      if (load < min) {
        min = load;
        tied.length = 0;
        tied.push(e);
      } else if (load === min) {
        tied.push(e);
      }
    }
    if (tied.length === 0) return undefined;
    return tied.length === 1 ? tied[0] : tied[randomIndex(this.rng, tied.length)];
  }

  onStart(endpoint: Endpoint): void {
    this.inFlight.set(endpoint.id, (this.inFlight.get(endpoint.id) ?? 0) + 1);
  }

  onEnd(endpoint: Endpoint, _outcome: CallOutcome): void {
    const n = this.inFlight.get(endpoint.id);
    if (n === undefined) throw new Error(`least-connections: onEnd(${endpoint.id}) without onStart`);
    if (n === 1) this.inFlight.delete(endpoint.id);
    else this.inFlight.set(endpoint.id, n - 1);
  }

  /** Calls in flight to an endpoint (for tests and metrics). */
  load(id: string): number {
    return this.inFlight.get(id) ?? 0;
  }
}
