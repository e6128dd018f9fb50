// bench/coord: one-node etcd and one-node Shoal coordinator, the same etcd3-client workload, one run.
//
//   npx tsx bench/coord/bench.ts [--topology single|cluster] [--servers etcd,shoal] [--duration 10]
//                                [--warmup 1] [--quick] [--check-perf s,m,l]
//                                [--scenarios put,get,watch,lease] [--put-conc 1,16,128] [--procs 4]
//                                [--grpc-server lean|grpc-js]   (Shoal's gRPC server, one-node topology)
//                                [--rounds N]   (every row N times on each server, back to back, order rotated; medians)
//
// At c=128 puts are also driven from --procs client processes (row `put-4p`), since one Node
// etcd3 client process saturates near 4.5–5k requests/s; --procs 1 turns that row off.
// --check-perf also drives each server with `etcdctl check perf` (a Go client, 60 s per load), since
// one Node client process saturates near 4–5k requests/s.
//
// Each server starts fresh (temp dirs, free ports, fsync before ack — the default of both) and is
// stopped by PID afterwards. `cluster` is three members on 127.0.0.1; the client spreads requests
// over all of them (the etcd3 client picks members at random), and the CPU per operation is the
// sum over the three server processes. Prints a side-by-side table and writes bench/results/coord-<date>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { etcdServer, startProcessServer, type CoordServerKind } from '../../test/support/etcd-server.js';
import { LOOPBACK } from '../../test/support/ports.js';
import { Cluster, LAUNCHERS } from '../../test/support/cluster.js';
import { runWorkload, type Figures } from './workload.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i]!;
  if (!a.startsWith('--')) continue;
  const next = process.argv[i + 1];
  args.set(a.slice(2), next !== undefined && !next.startsWith('--') ? (i++, next) : 'true');
}
const quick = args.get('quick') === 'true';
// Shoal runs from the build (`npm run build`), as users run it — not through the tsx loader.
const SHOAL_BUILT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'main.js');
const shoalCoord: CoordServerKind = {
  name: 'shoal',
  start: () => {
    if (!existsSync(SHOAL_BUILT)) throw new Error(`${SHOAL_BUILT} is missing: run \`npm run build\` first`);
    return startProcessServer({
      name: 'shoal',
      portsNeeded: 1,
      command: process.execPath,
      args: (dataDir, [client]) => [
        SHOAL_BUILT, 'coord', '--name', 'n1', '--data-dir', dataDir, '--log-level', 'warn', '--grpc-server', args.get('grpc-server') ?? 'lean',
        '--listen-client-urls', `http://${LOOPBACK}:${client}`, '--advertise-client-urls', `http://${LOOPBACK}:${client}`,
      ],
    });
  },
};

const kinds: CoordServerKind[] = (args.get('servers') ?? 'etcd,shoal').split(',').map((name) => {
  if (name === 'etcd') return etcdServer;
  if (name === 'shoal') return shoalCoord;
  throw new Error(`--servers: unknown server "${name}" (etcd, shoal)`);
});

const topology = args.get('topology') ?? 'single';
if (topology !== 'single' && topology !== 'cluster') throw new Error(`--topology: single or cluster, got "${topology}"`);
process.env['SHOAL_USE_BUILD'] = '1';

/** Starts one server kind in the chosen topology: endpoints, PIDs, and how to stop it. */
async function startServers(kind: CoordServerKind): Promise<{ endpoints: string[]; pids: number[]; stop: () => Promise<void> }> {
  if (topology === 'single') {
    const server = await kind.start();
    return { endpoints: server.endpoints, pids: [server.pid], stop: () => server.stop() };
  }
  const cluster = await Cluster.start({ launcher: LAUNCHERS[kind.name], size: 3, proxies: false });
  return {
    endpoints: cluster.endpoints,
    pids: cluster.members.map((m) => m.pid).filter((p): p is number => p !== undefined),
    stop: () => cluster.stop(),
  };
}

const checkPerfLoads = (args.get('check-perf') ?? '').split(',').filter((l) => l !== '');
const checks: CheckPerf[] = [];
const results: Array<Figures & { round: number }> = [];
// Rounds: every server is started once, then each row (put at one concurrency, the gets, the
// watch fan-out, the keep-alives) runs on every server back to back, the order rotated between
// rows and rounds. The pair compared is then measured seconds apart, not minutes: on this shared
// virtual machine the CPU speed and the disk's fsync latency drift by tens of percent over
// minutes, and with one client saturated (c=128) its speed alone sets both servers' figures.
const rounds = Number(args.get('rounds') ?? 1);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds: a positive integer, got "${args.get('rounds')}"`);
const durationMs = Number(args.get('duration') ?? (quick ? 2 : 10)) * 1000;
const putConc = args.has('put-conc') ? args.get('put-conc')!.split(',').map(Number) : quick ? [1, 16] : [1, 16, 128];
const wanted = args.has('scenarios') ? new Set(args.get('scenarios')!.split(',')) : new Set(['put', 'get', 'watch', 'lease']);
const groups: Array<{ scenario: string; putConc?: number[] }> = [
  ...(wanted.has('put') ? putConc.map((c) => ({ scenario: 'put', putConc: [c] })) : []),
  ...['get', 'watch', 'lease'].filter((g) => wanted.has(g)).map((scenario) => ({ scenario })),
];
const servers = new Map<string, Awaited<ReturnType<typeof startServers>>>();
try {
  for (const kind of kinds) {
    const server = await startServers(kind);
    servers.set(kind.name, server);
    console.log(`# ${kind.name} (${topology}): ${server.endpoints.join(',')} pids ${server.pids.join(',')}`);
  }
  let turn = 0;
  for (let round = 1; round <= rounds; round++) {
    for (const group of groups) {
      const order = turn++ % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const server = servers.get(kind.name)!;
        await runWorkload(
          {
            server: kind.name,
            endpoints: server.endpoints,
            pids: server.pids,
            durationMs,
            warmupMs: Number(args.get('warmup') ?? 1) * 1000,
            putConc: group.putConc ?? [],
            getConc: quick ? [16] : [16, 128],
            watchers: quick ? 20 : 100,
            leases: quick ? 100 : 1000,
            scenarios: new Set([group.scenario]),
            putProcs: Number(args.get('procs') ?? 4),
          },
          (f) => {
            results.push({ ...f, round });
            console.log(
              `r${round} ${f.server.padEnd(6)} ${f.scenario.padEnd(18)} c=${String(f.conc).padEnd(4)} ${String(f.opsPerSec).padStart(7)} ops/s` +
                `  p50 ${f.p50ms.toFixed(2)} ms  p99 ${f.p99ms.toFixed(2)} ms  server ${f.serverUsPerOp ?? '-'} us/op  client ${f.clientCpuPct}% cpu  err ${f.errors}`,
            );
          },
        );
      }
    }
  }
  for (const kind of kinds) {
    for (const load of checkPerfLoads) checks.push({ server: kind.name, load, ...(await checkPerf(servers.get(kind.name)!.endpoints, load)) });
  }
} finally {
  for (const server of servers.values()) await server.stop();
}

interface CheckPerf { server: string; load: string; writesPerSec: number; slowestSec: number; stddevSec: number; pass: boolean }

/** `etcdctl check perf --load L`: 60 s of writes from many Go clients; parses its verdict lines. */
async function checkPerf(endpoints: string[], load: string): Promise<Omit<CheckPerf, 'server' | 'load'>> {
  const run = promisify(execFile);
  const { stdout } = await run('etcdctl', ['--endpoints', endpoints.join(','), 'check', 'perf', '--load', load], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeout: 180_000,
    maxBuffer: 16 << 20,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' })); // it exits 1 on FAIL verdicts
  const num = (re: RegExp): number => Number(re.exec(stdout)?.[1] ?? NaN);
  const figures = {
    // etcdctl words a verdict differently when it fails ("Throughput too low: N writes/s").
    writesPerSec: num(/Throughput (?:is|too low:) (\d+) writes\/s/),
    slowestSec: num(/Slowest request took (?:too long: )?([\d.]+)s/),
    stddevSec: num(/Stddev (?:is|too high:) ([\d.]+)s/),
    pass: /^PASS$/m.test(stdout),
  };
  if (Number.isNaN(figures.writesPerSec)) console.log(stdout.split(/\r/).pop()?.slice(-2000));
  console.log(`check perf ${load}: ${figures.writesPerSec} writes/s, slowest ${figures.slowestSec}s, stddev ${figures.stddevSec}s, ${figures.pass ? 'PASS' : 'FAIL'}`);
  return figures;
}

// Side by side: Shoal relative to etcd for every scenario both ran. With several rounds, each
// figure is the median over the rounds, and the ratios of the single rounds are listed too.
const median = (xs: number[]): number => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 === 1 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
const rows = (server: string, scenario: string, conc: number) => results.filter((r) => r.server === server && r.scenario === scenario && r.conc === conc);
const table = [
  '| scenario | conc | etcd ops/s | Shoal ops/s | ratio | per round | etcd p50/p99 ms | Shoal p50/p99 ms | etcd CPU us/op | Shoal CPU us/op | CPU ratio |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
];
const seen = new Set<string>();
for (const e0 of results.filter((r) => r.server === 'etcd')) {
  const key = `${e0.scenario}/${e0.conc}`;
  if (seen.has(key)) continue;
  seen.add(key);
  const es = rows('etcd', e0.scenario, e0.conc);
  const ss = rows('shoal', e0.scenario, e0.conc);
  if (ss.length === 0) continue;
  const m = (xs: Figures[], f: (x: Figures) => number | null): number => median(xs.map(f).filter((v): v is number => v !== null));
  const [eOps, sOps] = [m(es, (x) => x.opsPerSec), m(ss, (x) => x.opsPerSec)];
  const [eCpu, sCpu] = [m(es, (x) => x.serverUsPerOp), m(ss, (x) => x.serverUsPerOp)];
  const perRound = es.map((e) => {
    const s = ss.find((x) => x.round === e.round);
    return s === undefined ? '-' : (s.opsPerSec / e.opsPerSec).toFixed(2);
  });
  const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
  table.push(
    `| ${e0.scenario} | ${e0.conc} | ${Math.round(eOps)} | ${Math.round(sOps)} | ${(sOps / eOps).toFixed(2)}× | ${perRound.join(' / ')} | ` +
      `${m(es, (x) => x.p50ms).toFixed(2)} / ${m(es, (x) => x.p99ms).toFixed(2)} | ${m(ss, (x) => x.p50ms).toFixed(2)} / ${m(ss, (x) => x.p99ms).toFixed(2)} | ` +
      `${f1(eCpu)} | ${f1(sCpu)} | ${Number.isFinite(eCpu) && Number.isFinite(sCpu) ? (sCpu / eCpu).toFixed(2) : '-'}× |`,
  );
}
if (table.length > 2) console.log('\n' + table.join('\n'));
if (checks.length > 0) {
  console.log('\n| etcdctl check perf | server | writes/s | slowest s | stddev s | verdict |\n|---|---|---|---|---|---|');
  for (const c of checks) console.log(`| ${c.load} | ${c.server} | ${c.writesPerSec} | ${c.slowestSec} | ${c.stddevSec} | ${c.pass ? 'PASS' : 'FAIL'} |`);
}

const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const file = path.join(outDir, `coord-${topology}-${stamp}.json`);
writeFileSync(
  file,
  JSON.stringify({ date: new Date().toISOString(), topology, rounds, machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, quick, results, checkPerf: checks }, null, 2),
);
console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
