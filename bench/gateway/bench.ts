// bench/gateway: HTTP through Shoal's gateway to a remote goods instance, side by side with the
// Moleculer anchor (moleculer-web → TCP transporter → echo) and a bare node:http server, driven
// by wrk exactly as ../shared/bench/moleculer/bench-http.sh drives them (3 s warm-up, then
// `wrk -t2 -c64 -d10s --latency`), scenario by scenario, the order rotated each round.
//
//   bash bench/gateway/run.sh [--duration 10] [--rounds 2] [--connections 64] [--threads 2]
//                             [--scenarios shoal-gateway,shoal-gateway-2w,shoal-gateway-quiet,shoal-gateway-auth,moleculer-web-tcp,bare-http]
//
// Shoal's stack is started once for the run, as `shoal up` starts it (src/cli/shop-topology.ts):
// one `shoal coord` node, one users and one goods instance (their main files, SHOAL_PORT=0), and
// the gateway (its own main, with the rate limits raised through SHOAL_GATEWAY_RATE_MAX and
// SHOAL_GATEWAY_USER_RATE_MAX). Each process logs to a file in the run's temp dir at its default
// level (info), as the supervisor does; `shoal-gateway-quiet` is a second gateway on the same
// stack with SHOAL_LOG_LEVEL=warn; `shoal-gateway-2w` is a gateway on the same stack run as two
// cluster workers (SHOAL_GATEWAY_WORKERS=2; its CPU counts the primary and both workers).
// Everything is stopped by PID. The printed line gives server
// CPU per request (µs): server cores × duration ÷ requests, steadier than req/s when shared.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { shoalCode } from '../transport/shoal-build.js';
import { freePort, machineTicks, parseFlags, pidTicks, stop, waitForLine } from '../common/procs.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const args = parseFlags();
const durationSec = Number(args.get('duration') ?? 10);
const rounds = Number(args.get('rounds') ?? 2);
const connections = Number(args.get('connections') ?? 64);
const threads = Number(args.get('threads') ?? 2);
const warmupSec = 3;
const wanted = (args.get('scenarios') ?? 'shoal-gateway,shoal-gateway-2w,shoal-gateway-quiet,shoal-gateway-auth,moleculer-web-tcp,bare-http').split(',');
const known = ['shoal-gateway', 'shoal-gateway-2w', 'shoal-gateway-quiet', 'shoal-gateway-auth', 'moleculer-web-tcp', 'bare-http'];
/** Which gateway process of the stack a Shoal scenario drives. */
const GATEWAY_OF: Record<string, string> = { 'shoal-gateway': 'gateway', 'shoal-gateway-auth': 'gateway', 'shoal-gateway-quiet': 'gateway-quiet', 'shoal-gateway-2w': 'gateway-2w' };
for (const s of wanted) if (!known.includes(s)) throw new Error(`--scenarios: unknown "${s}" (${known.join(', ')})`);
const anchorDir = path.resolve(process.env.MOLECULER_ANCHOR_DIR ?? path.join(repo, '..', 'shared', 'bench', 'moleculer'));
const anchorModules = path.join(here, 'anchor', 'node_modules');
if (wanted.some((s) => s === 'moleculer-web-tcp' || s === 'bare-http') && !existsSync(path.join(anchorDir, 'gateway.js'))) {
  throw new Error(`anchor scripts not found in ${anchorDir} (set MOLECULER_ANCHOR_DIR)`);
}
if (wanted.includes('moleculer-web-tcp') && !existsSync(path.join(anchorModules, 'moleculer-web'))) {
  throw new Error('anchor not installed: run bench/gateway/run.sh (npm ci in bench/gateway/anchor)');
}
const wrkBin = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).stdout.trim();
if (wrkBin === '') throw new Error('wrk is not installed (apt-get install wrk)');
const shoalDist = process.env.SHOAL_DIST;
const tsxNode = ['--import', 'tsx'];
const ADMIN = { email: 'bench-admin@shop.local', password: 'bench-admin-password-1' };


/** CPU (in cores) of the scenario's processes and of everything else, over the measured window. */
function cpuWindow(pids: (number | undefined)[]): () => { benchCores: number; foreignCores: number; perProcess: Record<string, number> } {
  const m0 = machineTicks();
  const p0 = pids.map(pidTicks);
  return () => {
    const m1 = machineTicks();
    const wall = (m1.total - m0.total) / os.cpus().length;
    const perProcess: Record<string, number> = {};
    let ours = 0;
    pids.forEach((pid, i) => {
      const a = p0[i];
      const b = pidTicks(pid);
      if (pid === undefined || a === undefined || b === undefined) return;
      ours += b - a;
      perProcess[String(pid)] = +((b - a) / wall).toFixed(2);
    });
    return { benchCores: +(ours / wall).toFixed(2), foreignCores: +Math.max(0, (m1.busy - m0.busy - ours) / wall).toFixed(2), perProcess };
  };
}

/** Direct children of `pid`, from /proc (ppid is field 4 of /proc/<pid>/stat). */
function childPids(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

interface WrkResult {
  rps: number;
  requests: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  non2xx: number;
  socketErrors: string | null;
}
/** The fields of `wrk --latency` output the anchor's wrk2json.js reads, parsed the same way. */
function parseWrk(s: string): WrkResult {
  const toMs = (v: string): number | null => {
    const m = /([\d.]+)(us|ms|s)/.exec(v);
    if (!m) return null;
    const n = Number(m[1]);
    return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
  };
  const pct = (p: number): number | null => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+\\w+)`).exec(s);
    const v = m ? toMs(m[1]!) : null;
    return v === null ? null : +v.toFixed(4);
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(s);
  const total = /(\d+) requests in/.exec(s);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(s);
  const errs = /Socket errors:.*/.exec(s);
  return {
    rps: rps ? Math.round(Number(rps[1])) : 0,
    requests: total ? Number(total[1]) : 0,
    p50_ms: pct(50),
    p90_ms: pct(90),
    p99_ms: pct(99),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: errs ? errs[0] : null,
  };
}

function wrk(url: string, seconds: number, headers: string[], latency: boolean): Promise<string> {
  const argv = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, ...(latency ? ['--latency'] : []), ...headers.flatMap((h) => ['-H', h]), url];
  return new Promise((resolve, reject) => {
    const child = spawn(wrkBin, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => (out += d));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}: ${out}`))));
  });
}

async function request(method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON: kept as text for the error message
  }
  return { status: res.status, json };
}

// ---- Shoal's stack: started once, stopped at the end (or on failure) ----
const work = mkdtempSync(path.join(os.tmpdir(), 'shoal-bench-gateway-'));
const stack: { name: string; child: ChildProcess }[] = [];
const pidOf = (name: string): number | undefined => stack.find((s) => s.name === name)?.child.pid;
const entry = (rel: string): string[] => (shoalDist ? [path.join(shoalDist, `${rel}.js`)] : [...tsxNode, path.join(repo, 'src', `${rel}.ts`)]);

const RATE_LIMIT = 1_000_000_000;
/** Extra node flags for the gateway and service processes, e.g. SHOAL_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p". */
const shoalNodeArgs = (process.env.SHOAL_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');

async function startStack(): Promise<{ gateways: Record<string, string> }> {
  const coordPort = await freePort();
  const coordUrl = `http://127.0.0.1:${coordPort}`;
  const coord = spawn(
    process.execPath,
    [...entry('cli/main'), 'coord', '--name', 'n1', '--data-dir', path.join(work, 'coord'), '--listen-client-urls', coordUrl, '--advertise-client-urls', coordUrl],
    { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  stack.push({ name: 'coord', child: coord });
  await waitForLine(coord, (l) => l.includes('ready to serve client requests'), 'shoal coord', { stream: coord.stderr! });
  const coordEnv = { SHOAL_COORD: `127.0.0.1:${coordPort}`, SHOAL_HOST: '127.0.0.1' };
  // The service logs go to files, as the supervisor of `shoal up` writes them.
  const service = async (name: string, rel: string): Promise<void> => {
    const log = path.join(work, `${name}.log`);
    const child = spawn(process.execPath, [...shoalNodeArgs, ...entry(rel)], {
      cwd: repo,
      env: { ...process.env, ...coordEnv, SHOAL_DATA_DIR: path.join(work, 'services', name), SHOAL_PORT: '0', SHOAL_INSTANCE_NAME: `${name}-1` },
      stdio: ['ignore', 'pipe', openSync(log, 'a')],
    });
    stack.push({ name, child });
    await waitForLine(child, (l) => /^ready \S+ /.test(l), name, { stream: child.stdout!, logFile: log });
  };
  await Promise.all([service('users', 'shop/users/main'), service('goods', 'shop/goods/main')]);
  const gateways: Record<string, string> = {};
  const gateway = async (name: string, extraEnv: Record<string, string>): Promise<void> => {
    const log = path.join(work, `${name}.log`);
    const port = await freePort();
    const child = spawn(process.execPath, [...shoalNodeArgs, ...entry('gateway/main')], {
      cwd: repo,
      env: {
        ...process.env,
        ...coordEnv,
        // Raised through the gateway's own knobs (600/min per IP and 300 per user would answer
        // nearly every request with 429); the limiter still runs on every request.
        SHOAL_GATEWAY_RATE_MAX: String(RATE_LIMIT),
        SHOAL_GATEWAY_USER_RATE_MAX: String(RATE_LIMIT),
        ...extraEnv,
        SHOAL_DATA_DIR: path.join(work, name),
        SHOAL_GATEWAY_PORT: String(port),
        SHOP_ADMIN_EMAIL: ADMIN.email,
        SHOP_ADMIN_PASSWORD: ADMIN.password,
      },
      stdio: ['ignore', 'pipe', openSync(log, 'a')],
    });
    stack.push({ name, child });
    const line = await waitForLine(child, (l) => l.startsWith('gateway listening on '), name, { stream: child.stdout!, logFile: log });
    gateways[name] = line.slice('gateway listening on '.length).trim();
  };
  if (wanted.some((s) => s === 'shoal-gateway' || s === 'shoal-gateway-auth')) await gateway('gateway', {});
  if (wanted.includes('shoal-gateway-quiet')) await gateway('gateway-quiet', { SHOAL_LOG_LEVEL: 'warn' });
  if (wanted.includes('shoal-gateway-2w')) await gateway('gateway-2w', { SHOAL_GATEWAY_WORKERS: '2' });
  return { gateways };
}

async function login(base: string): Promise<string> {
  const r = await request('POST', `${base}/api/v1/auth/login`, ADMIN);
  if (r.status !== 200) throw new Error(`login: ${r.status} ${JSON.stringify(r.json)}`);
  return (r.json as { access_token: string }).access_token;
}

// ---- one scenario: target up, sanity request, warm-up, measured wrk run, target down ----
interface Target {
  url: string;
  headers: string[];
  pids: (number | undefined)[];
  close: () => Promise<void>;
}

let goodsId: string | undefined;
let gateways: Record<string, string> = {};

async function target(scenario: string): Promise<Target> {
  if (scenario.startsWith('shoal-gateway')) {
    const name = GATEWAY_OF[scenario]!;
    const base = gateways[name]!;
    const token = await login(base); // a fresh token per scenario (they live 15 min)
    const url = scenario === 'shoal-gateway-auth' ? `${base}/api/v1/users/me` : `${base}/api/v1/goods/${goodsId}`;
    const check = await request('GET', url, undefined, token);
    if (check.status !== 200) throw new Error(`${scenario}: GET ${url} → ${check.status} ${JSON.stringify(check.json)}`);
    const gatewayPids = [pidOf(name), ...childPids(pidOf(name))]; // a cluster's workers are its children
    return { url, headers: [`Authorization: Bearer ${token}`], pids: [...gatewayPids, pidOf(scenario === 'shoal-gateway-auth' ? 'users' : 'goods'), pidOf('coord')], close: async () => undefined };
  }
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: anchorModules };
  const children: ChildProcess[] = [];
  const close = async (): Promise<void> => {
    for (const c of children.reverse()) await stop(c, 15_000);
  };
  try {
    if (scenario === 'moleculer-web-tcp') {
      env.TCP_SERVER_PORT = String(await freePort());
      env.TCP_CLIENT_PORT = String(await freePort());
      const server = spawn(process.execPath, [path.join(anchorDir, 'server.js'), 'tcp'], { env, cwd: anchorDir, stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(server);
      await waitForLine(server, (l) => l.startsWith('[server]'), 'moleculer server', { stream: server.stdout! });
      const gw = spawn(process.execPath, [path.join(anchorDir, 'gateway.js'), 'tcp', String(port)], { env, cwd: anchorDir, stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(gw);
      await waitForLine(gw, (l) => l.includes('READY'), 'moleculer-web gateway', { stream: gw.stdout! });
    } else {
      const bare = spawn(process.execPath, [path.join(anchorDir, 'bare-http.js'), String(port)], { env, cwd: anchorDir, stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(bare);
      await waitForLine(bare, (l) => l.includes('READY'), 'bare-http', { stream: bare.stdout! });
    }
    const url = `http://127.0.0.1:${port}/api/echo?a=1&b=hello`;
    const check = await request('GET', url);
    if (check.status !== 200) throw new Error(`${scenario}: GET ${url} → ${check.status}`);
    return { url, headers: [], pids: children.map((c) => c.pid), close };
  } catch (err) {
    await close();
    throw err;
  }
}

interface Row extends WrkResult {
  scenario: string;
  round: number;
  url: string;
  loadavgBefore: string;
  loadavgAfter: string;
  benchCores: number;
  foreignCores: number;
  serverCores: Record<string, number>;
}

const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const startedAt = new Date();
const rows: Row[] = [];
console.log(`# bench/gateway  ${startedAt.toISOString()}  ${os.cpus().length} cores (${os.cpus()[0]?.model}), shared with other work  node ${process.version}`);
console.log(`# Shoal code: ${shoalCode()}; wrk -t${threads} -c${connections} -d${durationSec}s --latency after a ${warmupSec} s warm-up; ${rounds} round(s); ${wanted.join(', ')}`);
try {
  if (wanted.some((s) => s.startsWith('shoal-gateway'))) {
    ({ gateways } = await startStack());
    const base = Object.values(gateways)[0]!;
    const token = await login(base);
    const created = await request('POST', `${base}/api/v1/goods`, { name: 'bench widget', price: 1999, stock: 1000 }, token);
    if (created.status !== 201) throw new Error(`create goods: ${created.status} ${JSON.stringify(created.json)}`);
    goodsId = (created.json as { id: string }).id;
    console.log(`# stack up in ${work}: ${stack.map((s) => `${s.name} pid ${s.child.pid}`).join(', ')}; goods ${goodsId}`);
  }
  for (let round = 1; round <= rounds; round++) {
    const order = wanted.map((_, i) => wanted[(i + round - 1) % wanted.length]!);
    for (const scenario of order) {
      const t = await target(scenario);
      try {
        await wrk(t.url, warmupSec, t.headers, false);
        const before = loadavg();
        const window = cpuWindow([...t.pids, undefined]);
        const out = await wrk(t.url, durationSec, t.headers, true);
        const cpu = window();
        const row: Row = { ...parseWrk(out), scenario, round, url: t.url, loadavgBefore: before, loadavgAfter: loadavg(), benchCores: cpu.benchCores, foreignCores: cpu.foreignCores, serverCores: cpu.perProcess };
        rows.push(row);
        console.log(
          `${scenario.padEnd(20)} r${round} ${String(row.rps).padStart(7)} req/s  p50 ${row.p50_ms} ms  p99 ${row.p99_ms} ms  non-2xx ${row.non2xx}/${row.requests}${row.socketErrors ? `  ${row.socketErrors}` : ''}  server CPU ${row.benchCores} cores (wrk not counted) = ${row.requests > 0 ? Math.round((row.benchCores * durationSec * 1e6) / row.requests) : '?'} µs/req ${JSON.stringify(row.serverCores)}  foreign ${row.foreignCores} cores  load ${row.loadavgAfter}`,
        );
      } finally {
        await t.close();
      }
    }
  }
} finally {
  for (const s of [...stack].reverse()) await stop(s.child, 15_000);
  if (process.env.SHOAL_BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true });
}

const table = ['| round | scenario | req/s | p50 ms | p99 ms | non-2xx / requests | server CPU (cores) | foreign CPU (cores) | load avg after |', '|---:|---|---:|---:|---:|---:|---:|---:|---|'];
for (let round = 1; round <= rounds; round++) {
  for (const r of rows.filter((x) => x.round === round)) {
    table.push(`| ${round} | ${r.scenario} | ${r.rps} | ${r.p50_ms} | ${r.p99_ms} | ${r.non2xx} / ${r.requests} | ${r.benchCores} | ${r.foreignCores} | ${r.loadavgAfter} |`);
  }
}
const ratios = ['| round | Shoal scenario | ÷ moleculer-web TCP req/s | p99 Shoal ÷ moleculer-web | ÷ bare node:http req/s |', '|---:|---|---:|---:|---:|'];
for (let round = 1; round <= rounds; round++) {
  const m = rows.find((x) => x.scenario === 'moleculer-web-tcp' && x.round === round);
  const b = rows.find((x) => x.scenario === 'bare-http' && x.round === round);
  for (const s of rows.filter((x) => x.round === round && x.scenario.startsWith('shoal-gateway'))) {
    const f = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`);
    ratios.push(`| ${round} | ${s.scenario} | ${f(m && s.rps / m.rps)} | ${f(m && s.p99_ms !== null && m.p99_ms ? s.p99_ms / m.p99_ms : undefined)} | ${f(b && s.rps / b.rps)} |`);
  }
}
console.log('\n' + table.join('\n'));
console.log('\n' + ratios.join('\n'));

const outDir = path.join(repo, 'bench', 'results');
mkdirSync(outDir, { recursive: true });
const file = path.join(outDir, `gateway-${startedAt.toISOString().slice(0, 10)}.json`);
const previous = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { runs: unknown[] }).runs : [];
const run = {
  date: startedAt.toISOString(),
  command: `bash bench/gateway/run.sh ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, platform: `${os.type()} ${os.release()}`, note: 'shared with other work' },
  config: {
    durationSec,
    warmupSec,
    threads,
    connections,
    rounds,
    scenarios: wanted,
    shoalCode: shoalCode(),
    shoal: 'GET /api/v1/goods/:id (public route; the Authorization header is sent) and GET /api/v1/users/me (JWT verified) through the gateway (shoal-gateway-2w: SHOAL_GATEWAY_WORKERS=2); one coordinator, one users and one goods instance; rate limits raised to 1e9 per window (no env knob)',
    anchor: 'moleculer 0.15.2 + moleculer-web 0.11.0, shared/bench/moleculer gateway.js tcp + server.js and bare-http.js unmodified, GET /api/echo?a=1&b=hello',
  },
  results: rows,
};
writeFileSync(file, JSON.stringify({ benchmark: 'gateway', runs: [...previous, run] }, null, 2) + '\n');
console.log(`\nwrote ${path.relative(process.cwd(), file)} (run ${previous.length + 1} of the day)`);
