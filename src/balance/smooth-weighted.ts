import { StatelessFeedback, weightOf, type Endpoint, type Strategy } from './types.js';

/**
 * nginx's smooth weighted round-robin: every pick adds each endpoint's weight to its `current`,
 * takes the largest, and subtracts the total from the winner. Over one cycle (sum of weights
 * picks) each endpoint is picked exactly `weight` times, interleaved (5,1,1 → a a b a c a a)
 * rather than in bursts.
 */
export class SmoothWeightedRoundRobin extends StatelessFeedback implements Strategy {
  readonly name = 'weighted';
  private current = new Map<string, number>();

  pick<E extends Endpoint>(endpoints: readonly E[]): E | undefined {
    if (endpoints.length === 0) return undefined;
    let total = 0;
    for (const e of endpoints) total += weightOf(e);
    const allDrained = total === 0;
    if (allDrained) total = endpoints.length;

    const next = new Map<string, number>();
    let best: E | undefined;
    let bestCurrent = -Infinity;
    for (const e of endpoints) {
      const w = allDrained ? 1 : weightOf(e);
      if (w === 0) continue;
      const c = (this.current.get(e.id) ?? 0) + w;
      next.set(e.id, c);
      if (c > bestCurrent) {
        bestCurrent = c;
        best = e;
      }
    }
    if (best === undefined) throw new Error('unreachable: no endpoint with positive weight');
    next.set(best.id, bestCurrent - total);
    // Rebuilt each pick: endpoints that left drop their state, new ones start at 0.
    this.current = next;
    return best;
  }
}
