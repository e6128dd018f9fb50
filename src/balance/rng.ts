import type { Rng } from './types.js';

/**
 * mulberry32: a small seeded generator, good enough for balancing and simulations (not crypto).
 * Exported so tests, simulations and the runtime's default seeding share one implementation.
 */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
