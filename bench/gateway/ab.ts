// A/B of two Shoal builds on the gateway path: both stacks (coordinator, users, goods, gateway)
// up at once, wrk alternating between them round by round, so other work on a shared machine
// weighs on both alike. Prints server CPU per request (gateway, goods) for each run, and the
// medians. A build is a dist directory from bench/service/build.sh.
//
//   node --import tsx bench/gateway/ab.ts --a <distA> --b <distB> [--rounds 4] [--duration 8] [--workers 1]
//
// --workers N runs each gateway with SHOAL_GATEWAY_WORKERS=N; its CPU is then the primary's and
// its workers' (the primary's children).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, parseFlags, pidTicks, stop, waitForLine } from '../common/procs.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = parseFlags();
const builds = { A: args.get('a'), B: args.get('b') };
if (builds.A === undefined || builds.B === undefined) throw new Error('--a <dist> --b <dist> are required');
const rounds = Number(args.get('rounds') ?? 4);
const durationSec = Number(args.get('duration') ?? 8);
const workers = args.get('workers') ?? '1';
if (!/^\d+$/.test(workers) || Number(workers) < 1) throw new Error(`--workers: expected a positive integer, got "${workers}"`);
const wrkBin = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).stdout.trim();
if (wrkBin === '') throw new Error('wrk is not installed');
const ADMIN = { email: 'bench-admin@shop.local', password: 'bench-admin-password-1' };
const ticksPerSec = 100;

const work = mkdtempSync(path.join(os.tmpdir(), 'shoal-bench-gateway-ab-'));
const children: ChildProcess[] = [];

interface Stack {
  name: string;
  base: string;
  gateway: number;
  goods: number;
  url: string;
  token: string;
}

async function request(method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
}

async function startStack(name: string, dist: string): Promise<Stack> {
  const dir = path.join(work, name);
  const coordPort = await freePort();
  const coordUrl = `http://127.0.0.1:${coordPort}`;
  const coord = spawn(process.execPath, [path.join(dist, 'cli/main.js'), 'coord', '--name', 'n1', '--data-dir', path.join(dir, 'coord'), '--listen-client-urls', coordUrl, '--advertise-client-urls', coordUrl], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(coord);
  await waitForLine(coord, (l) => l.includes('ready to serve client requests'), `${name} coord`, { stream: coord.stderr! });
  const env = { ...process.env, SHOAL_COORD: `127.0.0.1:${coordPort}`, SHOAL_HOST: '127.0.0.1' };
  const service = async (svc: string): Promise<ChildProcess> => {
    const child = spawn(process.execPath, [path.join(dist, `shop/${svc}/main.js`)], {
      cwd: repo,
      env: { ...env, SHOAL_DATA_DIR: path.join(dir, svc), SHOAL_PORT: '0', SHOAL_INSTANCE_NAME: `${svc}-1` },
      stdio: ['ignore', 'pipe', openSync(path.join(dir + `-${svc}.log`), 'a')],
    });
    children.push(child);
    await waitForLine(child, (l) => /^ready \S+ /.test(l), `${name} ${svc}`, { stream: child.stdout! });
    return child;
  };
  const [, goods] = await Promise.all([service('users'), service('goods')]);
  const port = await freePort();
  const gateway = spawn(process.execPath, [path.join(dist, 'gateway/main.js')], {
    cwd: repo,
    env: {
      ...env,
      SHOAL_GATEWAY_RATE_MAX: '1000000000',
      SHOAL_GATEWAY_USER_RATE_MAX: '1000000000',
      SHOAL_GATEWAY_WORKERS: workers,
      SHOAL_DATA_DIR: path.join(dir, 'gateway'),
      SHOAL_GATEWAY_PORT: String(port),
      SHOP_ADMIN_EMAIL: ADMIN.email,
      SHOP_ADMIN_PASSWORD: ADMIN.password,
    },
    stdio: ['ignore', 'pipe', openSync(path.join(dir + '-gateway.log'), 'a')],
  });
  children.push(gateway);
  const line = await waitForLine(gateway, (l) => l.startsWith('gateway listening on '), `${name} gateway`, { stream: gateway.stdout! });
  const base = line.slice('gateway listening on '.length).trim();
  const login = await request('POST', `${base}/api/v1/auth/login`, ADMIN);
  if (login.status !== 200) throw new Error(`${name} login: ${login.status}`);
  const token = (login.json as { access_token: string }).access_token;
  const created = await request('POST', `${base}/api/v1/goods`, { name: 'bench widget', price: 1999, stock: 1000 }, token);
  if (created.status !== 201) throw new Error(`${name} create goods: ${created.status}`);
  const url = `${base}/api/v1/goods/${(created.json as { id: string }).id}`;
  const check = await request('GET', url, undefined, token);
  if (check.status !== 200) throw new Error(`${name} GET: ${check.status}`);
  return { name, base, gateway: gateway.pid!, goods: goods.pid!, url, token };
}

/** CPU ticks of `pid` and its direct children (a gateway cluster's workers). */
function treeTicks(pid: number): number {
  let total = pidTicks(pid) ?? 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid) total += pidTicks(Number(entry)) ?? 0;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

function wrk(s: Stack, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(wrkBin, ['-t2', '-c64', `-d${seconds}s`, '-H', `Authorization: Bearer ${s.token}`, s.url], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => (out += d));
    child.once('exit', (code) => {
      const total = /(\d+) requests in/.exec(out);
      const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
      if (code !== 0 || !total || non2xx) reject(new Error(`wrk: ${code} ${out}`));
      else resolve(Number(total[1]));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

try {
  const stacks = [await startStack('A', builds.A), await startStack('B', builds.B)];
  const results: Record<string, { gw: number[]; goods: number[]; rps: number[] }> = { A: { gw: [], goods: [], rps: [] }, B: { gw: [], goods: [], rps: [] } };
  for (const s of stacks) await wrk(s, 3); // warm-up
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? stacks : [...stacks].reverse();
    for (const s of order) {
      const g0 = treeTicks(s.gateway);
      const d0 = pidTicks(s.goods)!;
      const requests = await wrk(s, durationSec);
      const gw = (((treeTicks(s.gateway) - g0) / ticksPerSec) * 1e6) / requests;
      const goods = (((pidTicks(s.goods)! - d0) / ticksPerSec) * 1e6) / requests;
      const r = results[s.name]!;
      r.gw.push(gw);
      r.goods.push(goods);
      r.rps.push(requests / durationSec);
      const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
      console.log(`round ${round} ${s.name}: ${Math.round(requests / durationSec)} req/s  gateway ${gw.toFixed(1)} µs/req  goods ${goods.toFixed(1)} µs/req  total ${(gw + goods).toFixed(1)}  load ${load}`);
    }
  }
  for (const name of ['A', 'B']) {
    const r = results[name]!;
    console.log(`median ${name} (${name === 'A' ? builds.A : builds.B}): gateway ${median(r.gw).toFixed(1)} µs/req  goods ${median(r.goods).toFixed(1)}  total ${median(r.gw.map((g, i) => g + r.goods[i]!)).toFixed(1)}  ${Math.round(median(r.rps))} req/s`);
  }
} finally {
  for (const c of children.reverse()) await stop(c, 15_000);
  rmSync(work, { recursive: true, force: true });
}
