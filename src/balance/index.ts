// Public surface of Shoal's client-side load balancing. Pure: no clocks, timers or randomness
// inside — an Rng and a Clock are passed in. One small class per strategy behind `Strategy`,
// chosen by name with `createStrategy(name, options)` (Moleculer-style).
export type { Endpoint, PickContext, CallOutcome, Rng, Clock, Strategy } from './types.js';
export { createStrategy, strategyNames, type StrategyName, type StrategyOptions } from './registry.js';
export { RoundRobin } from './round-robin.js';
export { RandomStrategy } from './random.js';
export { WeightedRandom } from './weighted-random.js';
export { SmoothWeightedRoundRobin } from './smooth-weighted.js';
export { LeastConnections } from './least-connections.js';
export { P2CEwma, type P2CEwmaOptions } from './p2c-ewma.js';
export { ConsistentHash, type ConsistentHashOptions } from './consistent-hash.js';
export { HashRing, DEFAULT_VIRTUAL_NODES } from './hash-ring.js';
export { murmur3 } from './hash.js';
export { seededRng } from './rng.js';
