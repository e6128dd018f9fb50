// Lease ids are chosen by the proposer before a leaseGrant enters the log (randomness stays out
// of the state machine). They are positive and below 2^53, so they survive as JS numbers.
import { invariant } from '../errors.js';

/**
 * A fresh lease id from `random` (uniform in [0, 1), like Math.random), avoiding 0 and any id
 * `taken` reports as in use.
 */
export function newLeaseId(random: () => number, taken: (id: number) => boolean = () => false): number {
  for (let attempt = 0; attempt < 64; attempt++) {
    const hi = Math.floor(random() * 2 ** 21);
    const lo = Math.floor(random() * 2 ** 32);
    const id = hi * 2 ** 32 + lo;
    invariant(Number.isSafeInteger(id) && id >= 0, 'random source yields values in [0, 1)');
    if (id !== 0 && !taken(id)) return id;
  }
  throw new Error('coord: no free lease id after 64 draws; is the random source constant?');
}
