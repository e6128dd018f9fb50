// npm run sim -- --seeds N [--nodes 3|5] [--seed S | --start S] [--workers W]   run seeds S..S+N-1
// npm run sim -- --seed S [--nodes 3|5]                                          replay one seed, verbosely
// Either form takes --core FILE#EXPORT to run another node factory than the real core, e.g.
// --core test/raft/sim/broken-variants.ts#commitOldTermEntry (a deliberately broken variant).
//
// Exit status 1 if any seed violated a safety property or linearizability.

import { parseArgs } from 'node:util';
import { loadCore } from './load-core.js';
import { runPool } from './pool.js';
import { defaultConfig, runSimulation } from './simulation.js';
import { formatFailure, formatSummary, replayCommand, summarize } from './summary.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string', default: '3' },
      start: { type: 'string' },
      workers: { type: 'string', default: '2' },
      core: { type: 'string' },
    },
  });
  const nodes = Number(values.nodes);
  if (nodes !== 3 && nodes !== 5) throw new Error('--nodes must be 3 or 5');
  if (values.seed !== undefined && values.start !== undefined) throw new Error('give --seed or --start, not both');
  const core = values.core;
  // Fails here, before any worker starts, when the module or export does not exist.
  const factory = await loadCore(core);

  if (values.seed !== undefined && values.seeds === undefined) {
    const seed = Number(values.seed);
    const config = defaultConfig(seed, nodes);
    const t0 = performance.now();
    const r = runSimulation(config, factory);
    const ms = performance.now() - t0;
    console.log(`seed ${seed}, ${nodes} nodes, ${ms.toFixed(0)} ms`);
    console.log(`stats: ${JSON.stringify(r.stats)}`);
    console.log(
      `liveness: ${r.liveness.met ? 'met' : 'NOT met'} (${r.liveness.ticks ?? 'never'} ticks after the heal; bound ${r.liveness.bound})`,
    );
    console.log(`linearizability: ${r.linearizability}`);
    if (r.violations.length > 0) console.log(formatFailure(r, core));
    else console.log('no violations');
    return r.violations.length > 0 ? 1 : 0;
  }

  const count = Number(values.seeds ?? '100');
  // With --seeds, --seed S is the first seed of the range (as --start S).
  const start = Number(values.seed ?? values.start ?? '1');
  if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(start)) throw new Error('--seeds and --seed/--start must be integers');
  const seeds = Array.from({ length: count }, (_, i) => start + i);
  const t0 = performance.now();
  // CPU time of the whole process (all threads): what the run costs, whatever else the machine
  // is doing at the same time.
  const cpu0 = process.cpuUsage();
  let done = 0;
  let failed = 0;
  let lastPrint = 0;
  console.log(
    `running ${count} seeds (${start}..${start + count - 1}) on ${nodes} nodes with ${values.workers} worker thread(s)` +
      (core !== undefined ? ` on core ${core}` : ''),
  );
  const results = await runPool({
    seeds,
    nodes,
    workers: Number(values.workers),
    ...(core !== undefined ? { core } : {}),
    onResults(rs) {
      done += rs.length;
      for (const r of rs) {
        if (r.violations.length === 0) continue;
        failed++;
        console.log(`FAIL seed ${r.seed}: ${r.violations.map((v) => v.kind).join(', ')} — replay: ${replayCommand(r, core)}`);
      }
      const now = performance.now();
      if (now - lastPrint > 2000 || done === count) {
        lastPrint = now;
        const rate = (1000 * done) / (now - t0);
        console.log(`  ${done}/${count} seeds, ${failed} failing, ${rate.toFixed(1)} seeds/s, eta ${((count - done) / rate).toFixed(0)} s`);
      }
    },
  });
  const summary = summarize(results);
  console.log('');
  console.log(formatSummary(summary, performance.now() - t0));
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  console.log(
    `cpu: ${cpuSeconds.toFixed(1)} s over all threads (${((1000 * cpuSeconds) / count).toFixed(1)} ms per seed; ` +
      `${(cpuSeconds / Number(values.workers)).toFixed(0)} s of wall time on ${values.workers} idle cores)`,
  );
  const slow = results.filter((r) => !r.liveness.met);
  if (slow.length > 0) {
    console.log(`\nseeds not live within the bound: ${slow.slice(0, 20).map((r) => `${r.seed} (${r.liveness.ticks ?? 'never'})`).join(', ')}`);
  }
  const undecided = results.filter((r) => r.linearizability === 'unknown');
  if (undecided.length > 0) console.log(`linearizability undecided: seeds ${undecided.slice(0, 20).map((r) => r.seed).join(', ')}`);
  for (const r of summary.failedSeeds.slice(0, 10)) console.log(`\n${formatFailure(r, core)}`);
  if (summary.failedSeeds.length > 10) console.log(`\n... and ${summary.failedSeeds.length - 10} more failing seeds`);
  return summary.failedSeeds.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
