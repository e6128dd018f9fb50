// SHOAL_GATEWAY_WORKERS: how many gateway processes share the listening port (node:cluster; Node 20
// has no reusePort). Read by the primary before it forks, so a bad value fails once, clearly,
// instead of as N crash-looping workers.
import os from 'node:os';

/** Upper bound: a typo like 80 instead of 8 should fail, not fork 80 processes. */
export const MAX_GATEWAY_WORKERS = 64;

/** The worker count: unset or empty → 1 (one process, no cluster), an integer 1..64, or `auto` (os.availableParallelism()). */
export function readWorkerCount(env: NodeJS.ProcessEnv = process.env): number {
  const text = (env.SHOAL_GATEWAY_WORKERS ?? '').trim();
  if (text === '') return 1;
  if (text === 'auto') return Math.max(1, Math.min(MAX_GATEWAY_WORKERS, os.availableParallelism()));
  const n = Number(text);
  if (!/^\d{1,3}$/.test(text) || n < 1 || n > MAX_GATEWAY_WORKERS) {
    throw new TypeError(`SHOAL_GATEWAY_WORKERS: expected an integer from 1 to ${MAX_GATEWAY_WORKERS} or "auto", got "${env.SHOAL_GATEWAY_WORKERS}"`);
  }
  return n;
}
