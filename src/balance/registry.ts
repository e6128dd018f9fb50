import { ConsistentHash } from './consistent-hash.js';
import { LeastConnections } from './least-connections.js';
import { P2CEwma } from './p2c-ewma.js';
import { RandomStrategy } from './random.js';
import { RoundRobin } from './round-robin.js';
import { SmoothWeightedRoundRobin } from './smooth-weighted.js';
import type { Clock, Rng, Strategy } from './types.js';
import { WeightedRandom } from './weighted-random.js';

/** Everything any strategy may need; each takes what it uses and checks it got it. */
export interface StrategyOptions {
  rng?: Rng;
  clock?: Clock;
  /** consistent-hash */
  virtualNodes?: number;
  /** p2c-ewma */
  decayMs?: number;
  unknownBusyPenaltyMs?: number;
  failureLatencyMs?: number;
}

type Factory = (options: StrategyOptions) => Strategy;

function need<T>(value: T | undefined, what: string, strategy: string): T {
  if (value === undefined) throw new TypeError(`strategy ${strategy} needs an injected ${what}`);
  return value;
}

const factories = {
  'round-robin': () => new RoundRobin(),
  random: (o) => new RandomStrategy(need(o.rng, 'rng', 'random')),
  'weighted-random': (o) => new WeightedRandom(need(o.rng, 'rng', 'weighted-random')),
  weighted: () => new SmoothWeightedRoundRobin(),
  'least-connections': (o) => new LeastConnections(need(o.rng, 'rng', 'least-connections')),
  'p2c-ewma': (o) =>
    new P2CEwma({
      rng: need(o.rng, 'rng', 'p2c-ewma'),
      clock: need(o.clock, 'clock', 'p2c-ewma'),
      decayMs: o.decayMs,
      unknownBusyPenaltyMs: o.unknownBusyPenaltyMs,
      failureLatencyMs: o.failureLatencyMs,
    }),
  'consistent-hash': (o) => new ConsistentHash({ virtualNodes: o.virtualNodes }),
} satisfies Record<string, Factory>;

export type StrategyName = keyof typeof factories;
export const strategyNames = Object.keys(factories) as StrategyName[];

/** A fresh strategy by its configuration name. Strategies keep state: one per service being called. */
export function createStrategy(name: StrategyName | (string & {}), options: StrategyOptions = {}): Strategy {
  const factory = (factories as Record<string, Factory>)[name];
  if (factory === undefined) {
    throw new TypeError(`unknown balancing strategy "${name}"; known: ${strategyNames.join(', ')}`);
  }
  return factory(options);
}
