import { randomIndex, StatelessFeedback, weightOf, type Endpoint, type Rng, type Strategy } from './types.js';

/** Picks each endpoint with probability weight / total weight. */
export class WeightedRandom extends StatelessFeedback implements Strategy {
  readonly name = 'weighted-random';
  constructor(private readonly rng: Rng) {
    super();
  }

  pick<E extends Endpoint>(endpoints: readonly E[]): E | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    let total = 0;
    for (const e of endpoints) total += weightOf(e);
    // All drained: better to spread evenly than to refuse a call that some endpoint could serve.
    if (total === 0) return endpoints[randomIndex(this.rng, n)];
    let r = this.rng() * total;
    for (const e of endpoints) {
      r -= weightOf(e);
      if (r < 0) return e;
    }
    // Only reachable through float rounding with r ≈ total: the last positive weight.
    for (let i = n - 1; i >= 0; i--) if (weightOf(endpoints[i]!) > 0) return endpoints[i];
    throw new Error('unreachable: total weight > 0 but no positive weight');
  }
}
