// bench/orders: orders per second and latency end to end through the gateway of a whole `shoal up`
// (3 coordinators, users ×2, goods ×2, orders ×2, gateway), in saga and 2PC modes, closed loop at
// each concurrency; and for scale the same three updates (reserve stock, debit the wallet, insert
// the order with its items and idempotency key) as ONE local SQLite transaction in this process
// (WAL, synchronous=FULL, BEGIN IMMEDIATE: the services' own settings).
//
//   bash bench/orders/run.sh [--duration 10] [--conc 32,64] [--modes saga,2pc] [--users 120]
//                            [--warmup 2] [--cpu-prof DIR] [--no-baseline] [--keep] [--out FILE]
//
// Rate limits: `shoal up` runs with SHOAL_GATEWAY_RATE_MAX and SHOAL_GATEWAY_USER_RATE_MAX lifted
// (the limiter still runs on every request) and SHOAL_TRUST_PROXY=1, each request naming its own
// client address in X-Forwarded-For; the orders come from `--users` users in turn. Every
// non-2xx answer is counted; plenty of stock and money, so every order should be confirmed.
// `--cpu-prof DIR` profiles every process of `shoal up` (cpu-prof.mjs through NODE_OPTIONS=--import;
// a <role>-<pid>.cpuprofile each, written when `shoal up` stops them at the end).
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ShopUp, descendants } from '../../test/failover/shop-up.js';
import { pidTicks } from '../common/procs.js';
import { ShopClient, mapLimit, quantile } from '../../test/chaos/shop-client.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    conc: { type: 'string', default: '32,64' },
    modes: { type: 'string', default: 'saga,2pc' },
    users: { type: 'string', default: '120' },
    'cpu-prof': { type: 'string' },
    'no-baseline': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const concs = values.conc.split(',').map(Number);
const modes = values.modes.split(',') as ('saga' | '2pc')[];
const userCount = Number(values.users);
const GOODS = 5;

interface Row {
  scenario: string;
  mode: string;
  concurrency: number;
  seconds: number;
  orders: number;
  ordersPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  confirmed: number;
  failed: number;
  pending: number;
  non2xx: number;
  errors: Record<string, number>;
  /** Server CPU ms per measured order by role (gateway, orders, goods, users, coord), all instances summed. */
  cpuMsPerOrder?: Record<string, number>;
  loadAvg: { before: number; during: number; after: number };
}

const loadNow = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
const log = (line: string): void => void process.stdout.write(`[bench/orders] ${line}\n`);

/** 1-minute load average sampled every second while `fn` runs; the mean of the samples. */
async function withLoadAvg<T>(fn: () => Promise<T>): Promise<{ value: T; before: number; during: number; after: number }> {
  const before = loadNow();
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(loadNow()), 1000);
  try {
    const value = await fn();
    return { value, before, during: samples.length === 0 ? before : samples.reduce((a, b) => a + b, 0) / samples.length, after: loadNow() };
  } finally {
    clearInterval(timer);
  }
}

/** Rate and latency figures of a row, from its sorted latencies (ms) over `seconds`. */
function timing(sorted: readonly number[], seconds: number): Pick<Row, 'seconds' | 'orders' | 'ordersPerSecond' | 'p50Ms' | 'p99Ms' | 'maxMs'> {
  return {
    seconds,
    orders: sorted.length,
    ordersPerSecond: sorted.length / seconds,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted.at(-1) ?? NaN,
  };
}

/** The role of a process below `shoal up`, from its command line (shop-topology's entry files). */
function roleOf(pid: number): string {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    for (const role of ['gateway', 'users', 'goods', 'orders']) if (cmd.includes(`/${role}/main`)) return role;
    return cmd.includes('coord') ? 'coord' : 'other';
  } catch {
    return 'gone';
  }
}

/** CPU ticks (1/100 s) per role, summed over every process below `shoal up` now. */
function ticksByRole(shop: ShopUp): Map<number, { role: string; ticks: number }> {
  const out = new Map<number, { role: string; ticks: number }>();
  for (const pid of descendants(shop.child.pid!)) {
    const ticks = pidTicks(pid);
    if (ticks !== undefined) out.set(pid, { role: roleOf(pid), ticks });
  }
  return out;
}

/** CPU ms per order by role over the window between two samples (processes in both). */
function cpuPerOrder(before: Map<number, { role: string; ticks: number }>, after: Map<number, { role: string; ticks: number }>, orders: number): Record<string, number> {
  const ms: Record<string, number> = {};
  for (const [pid, a] of after) {
    const b = before.get(pid);
    if (b === undefined || a.role === 'other' || a.role === 'gone') continue;
    ms[a.role] = (ms[a.role] ?? 0) + ((a.ticks - b.ticks) * 10) / Math.max(orders, 1);
  }
  for (const role of Object.keys(ms)) ms[role] = Math.round(ms[role]! * 1000) / 1000;
  return ms;
}

async function gatewayScenario(shop: ShopUp, client: ShopClient, mode: 'saga' | '2pc', concurrency: number, tokens: string[], goodsIds: string[], tag: string): Promise<Row> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  const statuses = { confirmed: 0, failed: 0, pending: 0 };
  let non2xx = 0;
  let seq = 0;
  let measuring = false;
  let running = true;
  const worker = async (w: number): Promise<void> => {
    for (let n = 0; running; n++) {
      const i = seq++;
      const start = performance.now();
      const answer = await client.send('POST', '/api/v1/orders', {
        token: tokens[i % tokens.length]!,
        headers: { 'idempotency-key': `${tag}-${w}-${n}` },
        body: { items: [{ goodsId: goodsIds[i % goodsIds.length]!, qty: 1 }], mode },
        timeoutMs: 30_000,
      });
      if (!measuring) continue;
      if (answer.status === 201) {
        latencies.push(performance.now() - start);
        const s = String(answer.body?.status) as keyof typeof statuses;
        if (s in statuses) statuses[s]++;
      } else {
        non2xx++;
        const k = `${answer.status} ${answer.error}`;
        errors[k] = (errors[k] ?? 0) + 1;
      }
    }
  };
  const loops = Array.from({ length: concurrency }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const t0 = performance.now();
  const ticks0 = ticksByRole(shop);
  const measured = await withLoadAvg(() => new Promise((r) => setTimeout(r, durationMs)));
  measuring = false;
  const ticks1 = ticksByRole(shop);
  const seconds = (performance.now() - t0) / 1000;
  running = false;
  await Promise.all(loops);
  latencies.sort((a, b) => a - b);
  return {
    scenario: `shoal gateway, ${mode}`,
    mode,
    concurrency,
    ...timing(latencies, seconds),
    ...statuses,
    non2xx,
    errors,
    cpuMsPerOrder: cpuPerOrder(ticks0, ticks1, latencies.length),
    loadAvg: { before: measured.before, during: measured.during, after: measured.after },
  };
}

/** The three updates as one local transaction: reserve stock, debit the wallet, insert the order (+ items, idempotency key). */
async function baseline(): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-orders-base-'));
  const db = new Database(join(dir, 'shop.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`
      CREATE TABLE goods (id TEXT PRIMARY KEY, price INTEGER NOT NULL, stock INTEGER NOT NULL CHECK (stock >= 0)) STRICT;
      CREATE TABLE users (id TEXT PRIMARY KEY, wallet INTEGER NOT NULL CHECK (wallet >= 0)) STRICT;
      CREATE TABLE orders (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL, total INTEGER NOT NULL, created_at INTEGER NOT NULL) STRICT;
      CREATE TABLE order_items (order_id TEXT NOT NULL, goods_id TEXT NOT NULL, qty INTEGER NOT NULL, price INTEGER NOT NULL, PRIMARY KEY (order_id, goods_id)) STRICT, WITHOUT ROWID;
      CREATE TABLE idempotency (user_id TEXT NOT NULL, key TEXT NOT NULL, order_id TEXT NOT NULL UNIQUE, PRIMARY KEY (user_id, key)) STRICT, WITHOUT ROWID;
    `);
    for (let g = 0; g < GOODS; g++) db.prepare('INSERT INTO goods VALUES (?, 100, 1000000000)').run(`g${g}`);
    for (let u = 0; u < userCount; u++) db.prepare('INSERT INTO users VALUES (?, 1000000000000)').run(`u${u}`);
    const reserve = db.prepare('UPDATE goods SET stock = stock - ? WHERE id = ? AND stock >= ? RETURNING price');
    const debit = db.prepare('UPDATE users SET wallet = wallet - ? WHERE id = ? AND wallet >= ?');
    const insertOrder = db.prepare("INSERT INTO orders VALUES (?, ?, 'confirmed', ?, ?)");
    const insertItem = db.prepare('INSERT INTO order_items VALUES (?, ?, ?, ?)');
    const insertKey = db.prepare('INSERT INTO idempotency VALUES (?, ?, ?)');
    const place = db.transaction((i: number) => {
      const user = `u${i % userCount}`;
      const goods = `g${i % GOODS}`;
      const row = reserve.get(1, goods, 1) as { price: number } | undefined;
      if (row === undefined) throw new Error('out of stock');
      if (debit.run(row.price, user, row.price).changes !== 1) throw new Error('insufficient funds');
      const id = `o${i}`;
      insertOrder.run(id, user, row.price, Date.now());
      insertItem.run(id, goods, 1, row.price);
      insertKey.run(user, `k${i}`, id);
    });
    const latencies: number[] = [];
    let i = 0;
    for (const until = performance.now() + warmupMs; performance.now() < until; ) place.immediate(i++);
    const t0 = performance.now();
    const measured = await withLoadAvg(async () => {
      const until = t0 + durationMs;
      while (performance.now() < until) {
        const s = performance.now();
        place.immediate(i++);
        latencies.push(performance.now() - s);
        // Let the load-average sampler run now and then.
        if (latencies.length % 1000 === 0) await new Promise((r) => setImmediate(r));
      }
    });
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      scenario: 'one local SQLite transaction (one process, WAL, synchronous=FULL)',
      mode: 'local',
      concurrency: 1,
      ...timing(latencies, seconds),
      confirmed: latencies.length,
      failed: 0,
      pending: 0,
      non2xx: 0,
      errors: {},
      loadAvg: { before: measured.before, during: measured.during, after: measured.after },
    };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  let exits: string[] = [];
  const started = new Date();
  // Past ~300 orders/s the 120 users' per-minute allowances run out within a run (and the next
  // row would start rate-limited): the bench measures orders, not the limiter, so lift both limits.
  const env: Record<string, string> = { SHOAL_TRUST_PROXY: '1', SHOAL_GATEWAY_RATE_MAX: '1000000000', SHOAL_GATEWAY_USER_RATE_MAX: '1000000000' };
  if (values['cpu-prof'] !== undefined) {
    // Node refuses --cpu-prof in NODE_OPTIONS; cpu-prof.mjs profiles each process from inside.
    mkdirSync(values['cpu-prof'], { recursive: true });
    env.SHOAL_CPU_PROF_DIR = resolve(values['cpu-prof']);
    env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${pathToFileURL(join(import.meta.dirname, 'cpu-prof.mjs')).href}`.trim();
  }
  log(`starting shoal up (load average ${loadNow()})`);
  const shop = await ShopUp.start(env, 150_000);
  const client = new ShopClient(shop.gateway, Math.max(...concs) + 16);
  try {
    const tag = `b${Date.now().toString(36)}`;
    const admin = await client.login('admin@shop.local', 'shoal-admin-local');
    const goodsIds = await mapLimit(Array.from({ length: GOODS }, (_, g) => g), GOODS, async (g) => {
      const body = await client.must('POST', '/api/v1/goods', { token: admin, body: { name: `${tag} bench goods ${g}`, price: 100, stock: 1_000_000_000 } });
      return body.id as string;
    });
    log(`registering ${userCount} users (a scrypt hash each for the registration and the login)`);
    const tokens = await mapLimit(Array.from({ length: userCount }, (_, u) => u), 8, async (u) => {
      const email = `${tag}-u${u}@bench.local`;
      await client.must('POST', '/api/v1/users', { body: { name: `Bench ${u}`, email, password: 'bench-password-1', address: '1 Bench Rd', phone: '+1 555 0100' } });
      const token = await client.login(email, 'bench-password-1');
      await client.must('POST', '/api/v1/users/me/deposit', { token, body: { amount: 100_000_000 }, headers: { 'idempotency-key': `${tag}-dep-${u}` } });
      return token;
    });
    for (const mode of modes) {
      for (const c of concs) {
        log(`${mode} c=${c}: ${values.warmup} s warm-up, ${values.duration} s measured`);
        const row = await gatewayScenario(shop, client, mode, c, tokens, goodsIds, `${tag}-${mode}-${c}`);
        rows.push(row);
        log(
          `${mode} c=${c}: ${row.ordersPerSecond.toFixed(0)} orders/s, p50 ${row.p50Ms.toFixed(1)} ms, p99 ${row.p99Ms.toFixed(1)} ms, ` +
            `confirmed ${row.confirmed} failed ${row.failed} pending ${row.pending}, non-2xx ${row.non2xx} ${JSON.stringify(row.errors)}, load ${row.loadAvg.during.toFixed(1)}, ` +
            `CPU ms/order ${JSON.stringify(row.cpuMsPerOrder)}`,
        );
      }
    }
  } finally {
    await client.close();
    // Nothing is killed here: any child that exited during the run is a finding, not noise.
    exits = shop.out.join('').split('\n').filter((l) => / exited \(/.test(l));
    for (const line of exits) log(`unexpected exit during the run: ${line}`);
    const { code, leftovers } = await shop.stop(60_000);
    log(`shoal up stopped (exit ${code}); processes left: ${leftovers.length}${values['cpu-prof'] !== undefined ? `; profiles in ${values['cpu-prof']}` : ''}`);
    if (values.keep) log(`data and logs kept in ${shop.dataDir}`);
    else shop.removeDataDir();
  }
  if (!values['no-baseline']) {
    log('baseline: one local SQLite transaction per order');
    const row = await baseline();
    rows.push(row);
    log(`baseline: ${row.ordersPerSecond.toFixed(0)} orders/s, p50 ${(row.p50Ms * 1000).toFixed(0)} µs, p99 ${(row.p99Ms * 1000).toFixed(0)} µs, load ${row.loadAvg.during.toFixed(1)}`);
  }
  const result = {
    bench: 'orders',
    date: started.toISOString(),
    machine: '2 cores, shared with other work',
    node: process.version,
    durationSeconds: durationMs / 1000,
    warmupSeconds: warmupMs / 1000,
    users: userCount,
    goods: GOODS,
    target: '>= 1,000 orders/s in saga mode (dtm: ~900 global tx/s on 4 cores with MySQL)',
    unexpectedExits: exits,
    rows,
  };
  const out = values.out ?? join('bench', 'results', `orders-${started.toISOString().slice(0, 10)}.json`);
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  log(`wrote ${out}`);
  process.stdout.write('\n| mode | c | orders/s | p50 ms | p99 ms | confirmed / failed / pending | non-2xx | load avg |\n|---|---:|---:|---:|---:|---|---:|---:|\n');
  for (const r of rows) {
    process.stdout.write(
      `| ${r.scenario} | ${r.concurrency} | ${r.ordersPerSecond.toFixed(0)} | ${r.p50Ms.toFixed(r.mode === 'local' ? 3 : 1)} | ${r.p99Ms.toFixed(r.mode === 'local' ? 3 : 1)} | ${r.confirmed} / ${r.failed} / ${r.pending} | ${r.non2xx} | ${r.loadAvg.during.toFixed(1)} |\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench/orders] ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
