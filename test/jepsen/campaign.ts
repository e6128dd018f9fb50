// The longer campaign behind the "N runs, 0 violations" claim: repeats the register, watch and
// lock checks with a different seed per run, each on a fresh cluster under the nemesis.
//
//   npx tsx test/jepsen/campaign.ts --kind etcd --runs 20 --nodes 3 [--duration 15000]
//       [--checks register,watch,lock] [--seed 1000] [--json out.json]
//
// Seeds are --seed + run index (default: a random base, printed), so any row can be replayed:
// SHOAL_JEPSEN_SEED=<seed> npx vitest run test/jepsen/<check>.test.ts. Exits 1 on any violation.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LAUNCHERS, type ClusterKindName } from '../support/cluster.js';
import { runLock, runRegister, runWatch, seedFromEnv, type RunOptions, type RunReport } from './runs.js';

const CHECKS = { register: runRegister, watch: runWatch, lock: runLock } as const;
type CheckName = keyof typeof CHECKS;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kind: { type: 'string', default: 'etcd' },
      runs: { type: 'string', default: '20' },
      nodes: { type: 'string', default: '3' },
      duration: { type: 'string', default: '15000' },
      checks: { type: 'string', default: 'register,watch,lock' },
      seed: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const launcher = LAUNCHERS[values.kind as ClusterKindName];
  if (!launcher) throw new Error(`--kind must be one of ${Object.keys(LAUNCHERS).join(', ')}`);
  const runs = positive('runs', values.runs);
  const nodes = positive('nodes', values.nodes);
  const durationMs = positive('duration', values.duration);
  const checks = values.checks.split(',').map((c) => c.trim()) as CheckName[];
  for (const c of checks) if (!(c in CHECKS)) throw new Error(`unknown check ${c}; known: ${Object.keys(CHECKS).join(', ')}`);
  const base = values.seed !== undefined ? Number(values.seed) : seedFromEnv();
  if (!Number.isSafeInteger(base)) throw new Error(`--seed must be an integer, got ${values.seed}`);

  console.log(`campaign: kind ${launcher.kind}, ${nodes} members, ${runs} runs x [${checks.join(', ')}], ${durationMs} ms of faults each, seeds ${base}..${base + runs - 1}`);
  const header = ['run', 'seed', 'check', 'ops', 'unknown', 'violations', 'faults', 'secs'];
  console.log(row(header));
  const reports: (RunReport & { secs: number })[] = [];
  const started = performance.now();
  for (let i = 0; i < runs; i++) {
    const seed = base + i;
    for (const check of checks) {
      const opts: RunOptions = { launcher, nodes, seed, durationMs };
      const t0 = performance.now();
      let report: RunReport;
      try {
        report = await CHECKS[check](opts);
      } catch (err) {
        // A run that could not complete (cluster did not recover, ...) counts as a failure, not a pass.
        console.log(`run ${i + 1} ${check} seed ${seed}: ERROR ${(err as Error).message.split('\n')[0]}`);
        report = { check, kind: launcher.kind, nodes, seed, ops: 0, unknown: 0, violations: 1, faults: 0, faultCounts: {}, checkMs: 0, report: String(err), extra: { error: 1 } };
      }
      const secs = Math.round((performance.now() - t0) / 100) / 10;
      reports.push({ ...report, secs });
      console.log(row([i + 1, seed, check, report.ops, report.unknown, report.violations, report.faults, secs]));
      if (report.violations > 0) console.log(report.report);
    }
  }

  console.log('\nsummary');
  const summaryWidths = [9, 5, 8, 8, 11, 7, 0];
  console.log(row(['check', 'runs', 'ops', 'unknown', 'violations', 'faults', 'fault mix'], summaryWidths));
  for (const check of checks) {
    const rs = reports.filter((r) => r.check === check);
    const mix: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.faultCounts)) mix[k] = (mix[k] ?? 0) + v;
    console.log(row([check, rs.length, sum(rs, 'ops'), sum(rs, 'unknown'), sum(rs, 'violations'), sum(rs, 'faults'),
      Object.entries(mix).map(([k, v]) => `${k} ${v}`).join(', ')], summaryWidths));
  }
  const violations = sum(reports, 'violations');
  console.log(`\n${reports.length} runs in ${Math.round((performance.now() - started) / 1000)} s: ${sum(reports, 'ops')} operations, ` +
    `${sum(reports, 'faults')} faults injected, ${violations} violations (machine: ${(await import('node:os')).cpus().length} cores)`);
  if (values.json) writeFileSync(values.json, JSON.stringify({ kind: launcher.kind, nodes, runs, durationMs, base, reports }, null, 2));
  return violations === 0 ? 0 : 1;
}

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${raw}`);
  return n;
}

function sum(rs: RunReport[], field: 'ops' | 'unknown' | 'violations' | 'faults'): number {
  return rs.reduce((s, r) => s + r[field], 0);
}

function row(cells: (string | number)[], widths = [5, 11, 9, 7, 8, 11, 7, 6]): string {
  return cells.map((c, i) => String(c).padEnd(widths[i] ?? 0)).join(' ');
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  console.error(err);
  process.exitCode = 2;
});
