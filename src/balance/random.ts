import { randomIndex, StatelessFeedback, type Endpoint, type Rng, type Strategy } from './types.js';

export class RandomStrategy extends StatelessFeedback implements Strategy {
  readonly name = 'random';
  constructor(private readonly rng: Rng) {
    super();
  }

  pick<E extends Endpoint>(endpoints: readonly E[]): E | undefined {
    if (endpoints.length === 0) return undefined;
    return endpoints[randomIndex(this.rng, endpoints.length)];
  }
}
