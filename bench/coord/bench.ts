// bench/coord: one-node etcd and one-node Shoal coordinator, the same etcd3-client workload, one run.
//
//   npx tsx bench/coord/bench.ts [--servers etcd,shoal] [--duration 10] [--warmup 1] [--quick]
//
// Each server starts fresh (temp dir, free port, fsync before ack — the default of both) and is
// stopped by PID afterwards. Prints a side-by-side table and writes bench/results/coord-<date>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { etcdServer, startProcessServer, type CoordServerKind } from '../../test/support/etcd-server.js';
import { LOOPBACK } from '../../test/support/ports.js';
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
        SHOAL_BUILT, 'coord', '--name', 'n1', '--data-dir', dataDir, '--log-level', 'warn',
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

const results: Figures[] = [];
for (const kind of kinds) {
  const server = await kind.start();
  console.log(`# ${kind.name}: ${server.endpoints.join(',')} pid ${server.pid}`);
  try {
    await runWorkload(
      {
        server: kind.name,
        endpoints: server.endpoints,
        pids: [server.pid],
        durationMs: Number(args.get('duration') ?? (quick ? 2 : 10)) * 1000,
        warmupMs: Number(args.get('warmup') ?? 1) * 1000,
        putConc: quick ? [1, 16] : [1, 16, 128],
        getConc: quick ? [16] : [16, 128],
        watchers: quick ? 20 : 100,
        leases: quick ? 100 : 1000,
      },
      (f) => {
        results.push(f);
        console.log(
          `${f.server.padEnd(6)} ${f.scenario.padEnd(18)} c=${String(f.conc).padEnd(4)} ${String(f.opsPerSec).padStart(7)} ops/s` +
            `  p50 ${f.p50ms.toFixed(2)} ms  p99 ${f.p99ms.toFixed(2)} ms  server ${f.serverUsPerOp ?? '-'} us/op  client ${f.clientCpuPct}% cpu  err ${f.errors}`,
        );
      },
    );
  } finally {
    await server.stop();
  }
}

// Side by side: Shoal relative to etcd for every scenario both ran.
const table = ['| scenario | conc | etcd ops/s | Shoal ops/s | ratio | etcd p50/p99 ms | Shoal p50/p99 ms | etcd CPU us/op | Shoal CPU us/op | CPU ratio |', '|---|---|---|---|---|---|---|---|---|---|'];
for (const e of results.filter((r) => r.server === 'etcd')) {
  const s = results.find((r) => r.server === 'shoal' && r.scenario === e.scenario && r.conc === e.conc);
  if (!s) continue;
  const cpuRatio = e.serverUsPerOp && s.serverUsPerOp ? (s.serverUsPerOp / e.serverUsPerOp).toFixed(2) : '-';
  table.push(
    `| ${e.scenario} | ${e.conc} | ${e.opsPerSec} | ${s.opsPerSec} | ${(s.opsPerSec / e.opsPerSec).toFixed(2)}× | ` +
      `${e.p50ms.toFixed(2)} / ${e.p99ms.toFixed(2)} | ${s.p50ms.toFixed(2)} / ${s.p99ms.toFixed(2)} | ${e.serverUsPerOp} | ${s.serverUsPerOp} | ${cpuRatio}× |`,
  );
}
if (table.length > 2) console.log('\n' + table.join('\n'));

const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
mkdirSync(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const file = path.join(outDir, `coord-${stamp}.json`);
writeFileSync(
  file,
  JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, quick, results }, null, 2),
);
console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
