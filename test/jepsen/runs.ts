// One Jepsen-style run per check: a fresh cluster, a workload and the nemesis at the same time,
// then a verdict. Shared by the vitest files (short, once) and campaign.ts (many seeds).
import { randomInt } from 'node:crypto';
import { Cluster, type MemberLauncher } from '../support/cluster.js';
import { checkKv, runKvWorkload, violationReport, type KvClient } from '../support/history.js';
import { Nemesis, type FaultKind } from '../support/nemesis.js';
import { runLockWorkload } from './lock-workload.js';
import { runWatchWorkload } from './watch-workload.js';

export interface RunOptions {
  launcher: MemberLauncher;
  nodes: number;
  seed: number;
  /** Load (and faults) for this long, ms. */
  durationMs: number;
  clients?: number;
  faults?: readonly FaultKind[];
  /** No nemesis at all (for baseline and bug-catching runs). */
  quiet?: boolean;
  makeClient?: (endpoint: string, worker: number) => KvClient;
  log?: (line: string) => void;
}

export interface RunReport {
  check: 'register' | 'watch' | 'lock';
  kind: string;
  nodes: number;
  seed: number;
  ops: number;
  unknown: number;
  violations: number;
  faults: number;
  faultCounts: Record<string, number>;
  checkMs: number;
  /** Human-readable verdict; on a violation: seed, nemesis log and the minimal failing history. */
  report: string;
  extra: Record<string, number | string>;
}

/** SHOAL_JEPSEN_SEED, or a fresh random seed (always printed by the caller's report). */
export function seedFromEnv(): number {
  const raw = process.env['SHOAL_JEPSEN_SEED'];
  if (raw !== undefined && raw.trim() !== '') {
    const n = Number(raw);
    if (!Number.isSafeInteger(n)) throw new Error(`SHOAL_JEPSEN_SEED must be an integer, got ${raw}`);
    return n;
  }
  return randomInt(1, 2 ** 31);
}

/**
 * Runs `body` against a fresh cluster. The body calls `startFaults()` once its setup is done: the
 * nemesis then runs for `durationMs` alongside it, and the returned promise settles when the
 * nemesis has recovered the cluster (a body that checks a final state awaits it first).
 */
async function withFaults<T>(
  opts: RunOptions,
  body: (cluster: Cluster, startFaults: () => Promise<void>) => Promise<T>,
): Promise<{ result: T; nemesis: Nemesis | undefined; cluster: Cluster }> {
  const cluster = await Cluster.start({ launcher: opts.launcher, size: opts.nodes });
  try {
    const nemesis = opts.quiet ? undefined : new Nemesis(cluster, { seed: opts.seed, faults: opts.faults });
    let faults: Promise<void> | undefined;
    const startFaults = (): Promise<void> => {
      faults ??= nemesis ? nemesis.run(opts.durationMs) : Promise.resolve();
      faults.catch(() => undefined); // observed below; the body may not await it
      return faults;
    };
    const result = await body(cluster, startFaults);
    await faults;
    const crashes = cluster.crashes();
    if (crashes.length > 0) throw new Error(`member process(es) exited on their own during the run:\n${crashes.join('\n')}`);
    return { result, nemesis, cluster };
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${cluster.logs()}`, { cause: err });
  } finally {
    await cluster.stop();
  }
}

function faultCounts(nemesis: Nemesis | undefined): { faults: number; faultCounts: Record<string, number> } {
  return { faults: nemesis?.faultsInjected ?? 0, faultCounts: { ...(nemesis?.counts ?? {}) } };
}

export async function runRegister(opts: RunOptions): Promise<RunReport> {
  const prefix = `/jepsen/register/${opts.seed}/`;
  const keys = Array.from({ length: 4 }, (_, i) => `${prefix}k${i}`);
  const { result: workload, nemesis } = await withFaults(opts, (cluster, startFaults) =>
    runKvWorkload({
      onStart: () => void startFaults(),
      endpoints: cluster.endpoints,
      clients: opts.clients ?? 6,
      keys,
      durationMs: opts.durationMs,
      seed: opts.seed,
      callTimeoutMs: 1000,
      ...(opts.makeClient ? { makeClient: opts.makeClient } : {}),
    }));
  const checked = checkKv(workload.ops);
  const ok = checked.result.outcome === 'ok';
  const title = `register on ${opts.launcher.kind} x${opts.nodes}`;
  return {
    check: 'register',
    kind: opts.launcher.kind,
    nodes: opts.nodes,
    seed: opts.seed,
    ops: workload.ops.length,
    unknown: workload.stats.unknown,
    violations: checked.result.outcome === 'illegal' ? 1 : 0,
    ...faultCounts(nemesis),
    checkMs: checked.ms,
    report: ok
      ? `${title}: linearizable (seed ${opts.seed}, ${workload.ops.length} ops, ${workload.stats.unknown} unknown, ${workload.stats.notApplied} not applied, check ${checked.ms} ms)\n${nemesis?.format() ?? ''}`
      : violationReport({ title, seed: opts.seed, nemesisLog: nemesis?.format() ?? '', result: checked.result }),
    extra: { notApplied: workload.stats.notApplied, outcome: checked.result.outcome, ...workload.stats.byType },
  };
}

export async function runWatch(opts: RunOptions): Promise<RunReport> {
  const { result: w, nemesis } = await withFaults(opts, (cluster, startFaults) =>
    runWatchWorkload({ cluster, startFaults, prefix: `/jepsen/watch/${opts.seed}/`, writers: opts.clients ?? 3, watchers: 3, durationMs: opts.durationMs, seed: opts.seed }));
  const title = `watch on ${opts.launcher.kind} x${opts.nodes}`;
  const report = w.problems.length === 0
    ? `${title}: every watcher saw the same ${w.events} revisions in order (seed ${opts.seed}, ${w.reconnects} reconnects)\n${nemesis?.format() ?? ''}`
    : [`${title}: ${w.problems.length} problem(s), seed ${opts.seed} (rerun with SHOAL_JEPSEN_SEED=${opts.seed})`, ...w.problems.map((p) => `  - ${p}`), 'nemesis log:', nemesis?.format() ?? ''].join('\n');
  return {
    check: 'watch',
    kind: opts.launcher.kind,
    nodes: opts.nodes,
    seed: opts.seed,
    ops: w.writes,
    unknown: w.unknownWrites,
    violations: w.problems.length,
    ...faultCounts(nemesis),
    checkMs: 0,
    report,
    extra: { events: w.events, reconnects: w.reconnects },
  };
}

export async function runLock(opts: RunOptions): Promise<RunReport> {
  const { result: l, nemesis } = await withFaults(opts, (cluster, startFaults) =>
    runLockWorkload({ cluster, startFaults, name: `jepsen-${opts.seed}`, contenders: opts.clients ?? 4, durationMs: opts.durationMs, seed: opts.seed }));
  const title = `lock on ${opts.launcher.kind} x${opts.nodes}`;
  const report = l.problems.length === 0
    ? `${title}: mutual exclusion and fencing held (seed ${opts.seed}, ${l.acquisitions} acquisitions, ${l.fencedWrites} fenced writes, ${l.rejectedStale} stale writes refused, lock history ${l.lockCheck})\n${nemesis?.format() ?? ''}`
    : [`${title}: ${l.problems.length} problem(s), seed ${opts.seed} (rerun with SHOAL_JEPSEN_SEED=${opts.seed})`, ...l.problems.map((p) => `  - ${p}`), 'nemesis log:', nemesis?.format() ?? ''].join('\n');
  return {
    check: 'lock',
    kind: opts.launcher.kind,
    nodes: opts.nodes,
    seed: opts.seed,
    ops: l.ops,
    unknown: l.unknown,
    violations: l.problems.length,
    ...faultCounts(nemesis),
    checkMs: 0,
    report,
    extra: { acquisitions: l.acquisitions, fencedWrites: l.fencedWrites, rejectedStale: l.rejectedStale },
  };
}
