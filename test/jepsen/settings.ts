// Durations and switches shared by the Jepsen-style tests. CI runs each check once, short; the
// campaign (campaign.ts) repeats them over many seeds.
//
//   SHOAL_JEPSEN_SERVERS   cluster kinds to run: etcd (default), shoal, or both "etcd,shoal"
//   SHOAL_JEPSEN_FULL=1    also run the 5-member variants
//   SHOAL_JEPSEN_SEED      fix the seed (printed by every run) to replay a schedule
//   SHOAL_JEPSEN_DURATION_MS  load-and-faults time per check (default 15000)
export const FULL = process.env['SHOAL_JEPSEN_FULL'] === '1';

export function durationMs(fallback = 15_000): number {
  const raw = process.env['SHOAL_JEPSEN_DURATION_MS'];
  const n = raw === undefined || raw.trim() === '' ? fallback : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`SHOAL_JEPSEN_DURATION_MS must be a positive number, got ${raw}`);
  return n;
}

/** A vitest timeout for a run of `ms` of load: cluster start, recovery, checking, teardown. */
export function budget(ms: number, nodes = 3): number {
  return ms + 45_000 + nodes * 5_000;
}
