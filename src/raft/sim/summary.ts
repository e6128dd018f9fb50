// Aggregating and printing run results (shared by the CLI and tests).

import type { RunResult } from './simulation.js';

export interface Summary {
  seeds: number;
  failedSeeds: RunResult[];
  liveMet: number;
  livenessTicks: number[];
  bound: number;
  linearizabilityUnknown: number;
  ops: number;
  unknownOps: number;
  crashes: number;
  tornWrites: number;
  lostWrites: number;
  elections: number;
  snapshotsInstalled: number;
}

export function summarize(results: RunResult[]): Summary {
  const sum = (f: (r: RunResult) => number) => results.reduce((s, r) => s + f(r), 0);
  const ticks = results.map((r) => r.liveness.ticks).filter((t): t is number => t !== null).sort((a, b) => a - b);
  return {
    seeds: results.length,
    failedSeeds: results.filter((r) => r.violations.length > 0),
    liveMet: results.filter((r) => r.liveness.met).length,
    livenessTicks: ticks,
    bound: results[0]?.liveness.bound ?? 0,
    linearizabilityUnknown: results.filter((r) => r.linearizability === 'unknown').length,
    ops: sum((r) => r.stats.ops),
    unknownOps: sum((r) => r.stats.unknownOps),
    crashes: sum((r) => r.stats.crashes),
    tornWrites: sum((r) => r.stats.tornWrites),
    lostWrites: sum((r) => r.stats.lostWrites),
    elections: sum((r) => r.stats.elections),
    snapshotsInstalled: sum((r) => r.stats.snapshotsInstalled),
  };
}

/** The command that replays `r` exactly; `core` is the `--core FILE#EXPORT` it ran on, if any. */
export function replayCommand(r: Pick<RunResult, 'seed' | 'nodes'>, core?: string): string {
  return `npm run sim -- --seed ${r.seed} --nodes ${r.nodes}${core !== undefined ? ` --core ${core}` : ''}`;
}

function quantile(sorted: number[], q: number): number | string {
  if (sorted.length === 0) return '-';
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function formatSummary(s: Summary, elapsedMs: number): string {
  const pct = s.seeds === 0 ? 0 : (100 * s.liveMet) / s.seeds;
  const t = s.livenessTicks;
  return [
    `seeds: ${s.seeds}   violations: ${s.failedSeeds.length} seed(s)   time: ${(elapsedMs / 1000).toFixed(1)} s (${((1000 * s.seeds) / Math.max(1, elapsedMs)).toFixed(1)} seeds/s)`,
    `liveness: ${pct.toFixed(2)}% of seeds recovered within ${s.bound} ticks of the heal ` +
      `(ticks to recover: p50 ${quantile(t, 0.5)}, p99 ${quantile(t, 0.99)}, p99.9 ${quantile(t, 0.999)}, max ${t.length ? t[t.length - 1] : '-'}; ` +
      `never: ${s.seeds - t.length})`,
    `client operations checked: ${s.ops} (${s.unknownOps} of unknown outcome); linearizability undecided on ${s.linearizabilityUnknown} seed(s)`,
    `faults survived: ${s.crashes} crashes (${s.lostWrites} unsynced writes lost, ${s.tornWrites} torn), ${s.elections} leaders elected, ${s.snapshotsInstalled} snapshots installed`,
  ].join('\n');
}

export function formatFailure(r: RunResult, core?: string): string {
  const lines = [`seed ${r.seed} (${r.nodes} nodes): ${r.violations.length} violation(s) — replay: ${replayCommand(r, core)}`];
  for (const v of r.violations) lines.push(`  [${v.kind}] ${v.message.split('\n').join('\n    ')}`);
  return lines.join('\n');
}
