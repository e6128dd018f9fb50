// bench/transport: a remote call between two processes, Shoal's transport side by side with the
// Moleculer anchor (TCP transporter, and NATS transporter when nats-server is installed), in one
// run, the scenarios interleaved round by round so background load hits them alike.
//
//   bash bench/transport/run.sh [--duration 10] [--conc 1,16,128] [--rounds 2] [--scenarios shoal-tcp,moleculer-tcp,moleculer-nats,shoal-http]
//   bash bench/service/run.sh   (the same harness with --name service --scenarios shoal-runtime,shoal-tcp,moleculer-tcp,moleculer-nats)
//
// `shoal-runtime` is the whole runtime, not the bare transport: echo hosted by startServices
// (runFromEnv) and registered in a one-node `shoal coord` started for the run (temp dir, free
// port, stopped by PID), called through connectBroker's pipeline (discovery view, balancing,
// breaker, deadline, spans, metrics). Shoal's processes run the build in SHOAL_DIST when set
// (bench/service/build.sh), else the sources through tsx.
//
// Every server is started here and stopped by its PID. Prints a table and appends the run to
// bench/results/transport-<date>.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LoadResult } from './load.js';
import { shoalCode } from './shoal-build.js';
import { freePort, machineTicks, parseFlags, pidTicks, stop, waitForLine } from '../common/procs.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const args = parseFlags();
const durationSec = Number(args.get('duration') ?? 10);
const concs = args.get('conc') ?? '1,16,128';
const rounds = Number(args.get('rounds') ?? 2);
const benchName = args.get('name') ?? 'transport';
if (!/^[a-z][a-z0-9-]*$/.test(benchName)) throw new Error(`--name: lowercase letters, digits and -, got "${benchName}"`);
const anchorDir = path.resolve(process.env.MOLECULER_ANCHOR_DIR ?? path.join(repo, '..', 'shared', 'bench', 'moleculer'));
const anchorModules = path.join(here, 'anchor', 'node_modules');
const natsBin = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).stdout.trim();
const wanted = (args.get('scenarios') ?? `shoal-tcp,moleculer-tcp${natsBin ? ',moleculer-nats' : ''},shoal-http`).split(',');
for (const s of wanted) {
  if (s.startsWith('moleculer') && !existsSync(path.join(anchorDir, 'client.js'))) throw new Error(`anchor scripts not found in ${anchorDir} (set MOLECULER_ANCHOR_DIR)`);
  if (s.startsWith('moleculer') && !existsSync(path.join(anchorModules, 'moleculer'))) throw new Error('anchor not installed: run bench/transport/run.sh (npm ci in bench/transport/anchor)');
  if (s === 'moleculer-nats' && !natsBin) throw new Error('moleculer-nats needs nats-server (apt-get install nats-server)');
}

interface Row extends LoadResult {
  scenario: string;
  label: string;
  round: number;
  loadavgBefore: string;
  loadavgAfter: string;
  /** CPU cores used by processes other than this bench's, averaged over the scenario. */
  foreignCores: number;
  /** CPU cores used by the bench's server and client processes. */
  benchCores: number;
}


function waitForPort(port: number): Promise<void> {
  const bound = Date.now() + 10_000;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > bound) reject(new Error(`port ${port} never opened`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}


/** Samples every second so a process's last reading before it exits is kept. */
class CpuSampler {
  private readonly start = machineTicks();
  private readonly last = new Map<number, number>();
  private readonly first = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pids: () => (number | undefined)[]) {
    this.sample(true);
    this.timer = setInterval(() => this.sample(), 1000);
  }
  private sample(initial = false): void {
    for (const pid of this.pids()) {
      const t = pidTicks(pid);
      if (pid === undefined || t === undefined) continue;
      // Running before the window (the run's coordinator): count from now; started inside it: all of it.
      if (!this.first.has(pid)) this.first.set(pid, initial ? t : 0);
      this.last.set(pid, t);
    }
  }
  finish(): { foreignCores: number; benchCores: number } {
    this.sample();
    clearInterval(this.timer);
    const end = machineTicks();
    const cores = os.cpus().length;
    const wall = (end.total - this.start.total) / cores;
    let ours = 0;
    for (const [pid, t] of this.last) ours += t - this.first.get(pid)!;
    const busy = end.busy - this.start.busy;
    return { foreignCores: +Math.max(0, (busy - ours) / wall).toFixed(2), benchCores: +(ours / wall).toFixed(2) };
  }
}

const tsxNode = ['--import', 'tsx'];
const shoalDist = process.env.SHOAL_DIST;

/** The one-node coordinator the `shoal-runtime` scenario registers in; started on first use, kept for the run. */
interface Coord {
  child: ChildProcess;
  endpoint: string;
  dataDir: string;
}
let coord: Coord | undefined;
async function startCoord(): Promise<Coord> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'shoal-bench-coord-'));
  const url = `http://127.0.0.1:${port}`;
  const main = shoalDist ? [path.join(shoalDist, 'cli', 'main.js')] : [...tsxNode, path.join(repo, 'src', 'cli', 'main.ts')];
  const child = spawn(process.execPath, [...main, 'coord', '--name', 'n1', '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Readiness is its log line (stderr, pino JSON), as test/support/shoal-coord.ts waits for it.
  await new Promise<void>((resolve, reject) => {
    const rl = createInterface({ input: child.stderr! });
    const tail: string[] = [];
    const timer = setTimeout(() => reject(new Error(`shoal coord: not ready after 30 s\n${tail.join('\n')}`)), 30_000);
    rl.on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (line.includes('ready to serve client requests')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`shoal coord exited with ${code} before it was ready\n${tail.join('\n')}`));
    });
  });
  return { child, endpoint: `127.0.0.1:${port}`, dataDir };
}
const anchorEnv = { ...process.env, NODE_PATH: anchorModules };

async function runScenario(scenario: string, label: string): Promise<LoadResult[]> {
  const children: ChildProcess[] = [];
  let natsServer: ChildProcess | undefined;
  const pids = (): (number | undefined)[] => [...children.map((c) => c.pid), natsServer?.pid, scenario.startsWith('shoal-runtime') ? coord?.child.pid : undefined];
  const sampler = new CpuSampler(pids);
  try {
    let server: ChildProcess;
    let client: ChildProcess;
    if (scenario === 'shoal-runtime' || scenario === 'shoal-runtime-base') {
      coord ??= await startCoord();
      const env: NodeJS.ProcessEnv = { ...process.env, SHOAL_COORD: coord.endpoint, SHOAL_PORT: '0', SHOAL_HOST: '127.0.0.1' };
      // `shoal-runtime-base`: the same processes on another build (SHOAL_DIST_BASE), to compare a
      // change with the code before it side by side in one run.
      if (scenario === 'shoal-runtime-base') {
        if (!process.env.SHOAL_DIST_BASE) throw new Error('shoal-runtime-base needs SHOAL_DIST_BASE (a build made by bench/service/build.sh <dir>)');
        env.SHOAL_DIST = process.env.SHOAL_DIST_BASE;
      }
      server = spawn(process.execPath, [...tsxNode, path.join(here, 'runtime-server.ts')], { cwd: repo, env, stdio: ['ignore', 'pipe', 'ignore'] });
      children.push(server);
      await waitForLine(server, (l) => l.startsWith('ready '), 'shoal runtime server', { timeoutMs: 30_000 });
      client = spawn(process.execPath, [...tsxNode, path.join(here, 'runtime-client.ts'), String(durationSec), concs, label], { cwd: repo, env: { ...env, SHOAL_BENCH_SERVER_PID: String(server.pid) }, stdio: ['ignore', 'pipe', 'inherit'] });
    } else if (scenario === 'shoal-tcp' || scenario === 'shoal-http') {
      server = spawn(process.execPath, [...tsxNode, path.join(here, 'server.ts')], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(server);
      const ready = JSON.parse(await waitForLine(server, (l) => l.includes('"ready"'), 'shoal server')) as { tcp: string; http: string };
      const url = scenario === 'shoal-tcp' ? ready.tcp : ready.http;
      client = spawn(process.execPath, [...tsxNode, path.join(here, 'client.ts'), url, String(durationSec), concs, label], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    } else {
      const kind = scenario === 'moleculer-tcp' ? 'tcp' : 'nats';
      const env: NodeJS.ProcessEnv = { ...anchorEnv };
      if (kind === 'tcp') {
        env.TCP_SERVER_PORT = String(await freePort());
        env.TCP_CLIENT_PORT = String(await freePort());
      } else {
        const port = await freePort();
        natsServer = spawn(natsBin, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
        await waitForPort(port);
        env.NATS_URL = `nats://127.0.0.1:${port}`;
      }
      server = spawn(process.execPath, [path.join(anchorDir, 'server.js'), kind], { env, cwd: anchorDir, stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(server);
      await waitForLine(server, (l) => l.startsWith('[server]'), 'moleculer server');
      client = spawn(process.execPath, [path.join(anchorDir, 'client.js'), kind, String(durationSec), concs, label], { env, cwd: anchorDir, stdio: ['ignore', 'pipe', 'inherit'] });
    }
    children.push(client);
    const results: LoadResult[] = [];
    const rl = createInterface({ input: client.stdout! });
    rl.on('line', (line) => {
      if (line.startsWith('{')) results.push(JSON.parse(line) as LoadResult);
    });
    const code = await new Promise<number | null>((r) => client.once('exit', (c) => r(c)));
    if (code !== 0) throw new Error(`${scenario} client exited with ${code}`);
    const cpu = sampler.finish();
    return results.map((r) => ({ ...r, ...cpu }));
  } finally {
    for (const c of children) await stop(c, 5_000);
    if (natsServer !== undefined) await stop(natsServer, 5_000);
  }
}

/** CPU µs per call (client + server), when the scenario's client measured it (shoal-runtime). */
const cpuNote = (r: object): string => {
  const cpu = (r as { cpuUsPerCall?: { client: number; server?: number } }).cpuUsPerCall;
  return cpu === undefined ? '' : `  cpu/call client ${cpu.client} µs + server ${cpu.server ?? '?'} µs`;
};
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const startedAt = new Date();
const rows: Row[] = [];
console.log(`# bench/transport  ${startedAt.toISOString()}  ${os.cpus().length} cores (${os.cpus()[0]?.model})  node ${process.version}`);
console.log(`# Shoal code: ${shoalCode()}  (machine shared with other work: see load avg / foreign CPU per row)`);
console.log(`# ${durationSec} s per concurrency, c=${concs}, ${rounds} round(s), scenarios ${wanted.join(', ')}`);
for (let round = 1; round <= rounds; round++) {
  // Rotate the order each round so neither side always runs first (or last) in a round.
  const order = wanted.map((_, i) => wanted[(i + round - 1) % wanted.length]!);
  for (const scenario of order) {
    const before = loadavg();
    const results = await runScenario(scenario, `r${round}`);
    const after = loadavg();
    for (const r of results) {
      const row = { ...(r as Row), scenario, label: `r${round}`, round, loadavgBefore: before, loadavgAfter: after };
      rows.push(row);
      console.log(
        `${scenario.padEnd(15)} r${round} c=${String(r.concurrency).padEnd(4)} ${String(r.rps).padStart(7)} ops/s  p50 ${r.p50_ms.toFixed(3)} ms  p99 ${r.p99_ms.toFixed(3)} ms  err ${r.errors}  foreign ${row.foreignCores} cores  load ${after}${cpuNote(r)}`,
      );
    }
  }
}

const table = ['| c | round | scenario | ops/s | p50 ms | p99 ms | errors | foreign CPU (cores) | load avg after |', '|---:|---:|---|---:|---:|---:|---:|---:|---|'];
for (const c of concs.split(',').map(Number)) {
  for (let round = 1; round <= rounds; round++) {
    for (const r of rows.filter((x) => x.concurrency === c && x.round === round)) {
      table.push(`| ${c} | ${round} | ${r.scenario} | ${r.rps} | ${r.p50_ms.toFixed(3)} | ${r.p99_ms.toFixed(3)} | ${r.errors} | ${r.foreignCores} | ${r.loadavgAfter} |`);
    }
  }
}
const ratios = ['| c | round | Shoal scenario | ÷ Moleculer TCP ops/s | p99 Shoal ÷ Moleculer TCP |', '|---:|---:|---|---:|---:|'];
for (const c of concs.split(',').map(Number)) {
  for (let round = 1; round <= rounds; round++) {
    const m = rows.find((x) => x.scenario === 'moleculer-tcp' && x.concurrency === c && x.round === round);
    for (const name of ['shoal-runtime', 'shoal-tcp']) {
      const s = rows.find((x) => x.scenario === name && x.concurrency === c && x.round === round);
      if (s && m) ratios.push(`| ${c} | ${round} | ${name} | ${(s.rps / m.rps).toFixed(2)}× | ${(s.p99_ms / m.p99_ms).toFixed(2)}× |`);
    }
  }
}
if (coord !== undefined) {
  await stop(coord.child, 5_000);
  rmSync(coord.dataDir, { recursive: true, force: true });
}
console.log('\n' + table.join('\n'));
if (ratios.length > 2) console.log('\n' + ratios.join('\n'));

const outDir = path.join(repo, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const file = path.join(outDir, `${benchName}-${startedAt.toISOString().slice(0, 10)}.json`);
const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { runs: unknown[] }).runs : [];
const run = {
  date: startedAt.toISOString(),
  command: `bash bench/${benchName === 'service' ? 'service' : 'transport'}/run.sh ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, platform: `${os.type()} ${os.release()}` },
  config: { durationSec, concurrencies: concs, rounds, scenarios: wanted, shoalCode: shoalCode(), payload: { a: 1, b: 'hello' }, anchor: 'moleculer 0.15.2 (JSON serializer, defaults), shared/bench/moleculer scripts unmodified' },
  results: rows,
};
writeFileSync(file, JSON.stringify({ benchmark: benchName, runs: [...previous, run] }, null, 2) + '\n');
console.log(`\nwrote ${path.relative(process.cwd(), file)} (run ${previous.length + 1} of the day)`);
