// The orders chaos test (issue 6, "Must show"): real `shoal up` processes, many users placing
// orders concurrently over a few goods with limited stock and limited money, each request with an
// Idempotency-Key and some deliberately repeated (also after a timeout), while a seeded nemesis
// SIGKILLs random orders, goods and users instances and one coordinator node (the supervisor
// restarts them). After the nemesis stops, every order must end (confirmed or failed) within 30 s,
// and then:
//   money:  Σ wallets + Σ totals of confirmed orders = Σ deposits            (the run's users)
//   stock:  stock + Σ qty in confirmed orders = initial stock                  (per goods)
//   keys:   one order per (user, Idempotency-Key); every answer for a key names the same order;
//           each order holds exactly the items its key's request asked for; a confirmed order's
//           total is Σ price × qty
//   ended:  no order pending 30 s after the end
// Each run uses users and goods of its own, so runs can share one cluster and still be checked
// alone. Every random choice (workload, repeats, short timeouts, nemesis schedule and victims)
// comes from the seed; process timing does not, so a replay repeats the same workload and faults.
//
//   npx tsx test/chaos/orders-chaos.ts --runs 20 --mode saga|2pc --orders 1000 --seed S
//     [--users 50] [--goods 5] [--concurrency 64] [--nemesis-ms 20000 (0 = as long as the load)]
//     [--kill-every 1500,3000] [--service-rest-ms 5000] [--min-load-ms 0] [--no-nemesis] [--keep] [--json FILE] [--max-minutes M (start no run after M minutes)]
// --mode both alternates saga and 2PC runs on the same cluster.
// Exit code 1 on any violation, with the seed and the command that replays it.
import Database from 'better-sqlite3';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { seededRng } from '../../src/balance/rng.js';
import { sendControl } from '../../src/cli/control.js';
import { ShopUp } from '../failover/shop-up.js';
import { ShopClient, mapLimit, quantile, type Answer } from './shop-client.js';

export type Mode = 'saga' | '2pc';

export interface ChaosOptions {
  seed: number;
  mode: Mode;
  orders: number;
  users: number;
  goods: number;
  /** Order requests in flight at most. */
  concurrency: number;
  /** Kill processes while the load runs. */
  nemesis: boolean;
  /** Stop the nemesis after this long (or when the load ends); 0 = as long as the load. */
  nemesisMs: number;
  /** Pause between kills, ms: uniform in [min, max]. */
  killEveryMs: [number, number];
  /**
   * A service is not hit again this soon after one of its instances was killed (a restart takes
   * a few seconds here): each kill takes down one of two instances, not the whole service for
   * the rest of the run (an earlier version that killed every ~1.3 s kept orders, goods and users
   * down for minutes: 75 % of the requests found no endpoint).
   */
  serviceRestMs: number;
  /**
   * Spread the orders' first requests over at least this long (0 = as fast as they go), so a
   * small run on a quiet machine still overlaps the nemesis instead of ending before its first kill.
   */
  minLoadMs: number;
  /** How long after the end every order must have ended (and the invariants hold). */
  settleBoundMs: number;
  log: (line: string) => void;
}

export const DEFAULT_OPTIONS: Omit<ChaosOptions, 'seed' | 'mode' | 'log'> = {
  orders: 1000,
  users: 50,
  goods: 5,
  concurrency: 64,
  nemesis: true,
  nemesisMs: 20_000,
  killEveryMs: [1_500, 3_000],
  serviceRestMs: 5_000,
  minLoadMs: 0,
  settleBoundMs: 30_000,
};

export interface Kill {
  atMs: number;
  kind: string;
  name: string;
  pid: number;
}

export interface ChaosReport {
  seed: number;
  mode: Mode;
  orders: number;
  /** Orders that exist at the end (≤ orders: a key whose every attempt failed before the order was written has none). */
  placed: number;
  confirmed: number;
  failed: number;
  pending: number;
  failures: Record<string, number>;
  requests: { total: number; retried: number; deliberateRepeats: number; shortTimeouts: number; byOutcome: Record<string, number> };
  keysWithoutAnswer: number;
  kills: Kill[];
  money: { deposits: number; wallets: number; confirmedTotals: number };
  stock: { goodsId: string; initial: number; stock: number; sold: number }[];
  timing: { setupMs: number; loadMs: number; ordersPerSecond: number; p50Ms: number; p99Ms: number; settleMs: number; checkMs: number; totalMs: number };
  violations: string[];
}

interface PlannedOrder {
  index: number;
  user: number;
  items: { goods: number; qty: number }[];
  key: string;
  /** First attempt with a client timeout this short (ms), so it is abandoned in flight; 0 = normal. */
  shortTimeoutMs: number;
  /** A deliberate second request with the same key: at the same time, or after the answer. */
  repeat: 'none' | 'concurrent' | 'after';
}

interface Plan {
  tag: string;
  prices: number[];
  initialStock: number[];
  /** Per user, the deposits (cents) made before the load. */
  deposits: number[][];
  orders: PlannedOrder[];
  /** Nemesis: pauses and victim choices, drawn in advance. */
  killPauses: number[];
  killKinds: ('orders' | 'goods' | 'users')[];
  killPicks: number[];
  coordinatorKillAt: number;
  coordinatorPick: number;
}

function plan(o: ChaosOptions): Plan {
  const rng = seededRng(o.seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
  const tag = `c${o.seed.toString(36)}${o.mode === 'saga' ? 's' : 't'}${Date.now().toString(36)}`;
  const prices = Array.from({ length: o.goods }, () => int(2, 30) * 50);
  const orders: PlannedOrder[] = [];
  for (let index = 0; index < o.orders; index++) {
    const count = rng() < 0.7 ? 1 : int(2, Math.min(3, o.goods));
    const goods = new Set<number>();
    while (goods.size < count) goods.add(int(0, o.goods - 1));
    const items = [...goods].map((g) => ({ goods: g, qty: int(1, 4) }));
    const r = rng();
    orders.push({
      index,
      user: int(0, o.users - 1),
      items,
      key: `${tag}-o${index}`,
      shortTimeoutMs: rng() < 0.05 ? int(5, 300) : 0,
      repeat: r < 0.05 ? 'concurrent' : r < 0.1 ? 'after' : 'none',
    });
  }
  // Limited stock: 40-70 % of what the orders ask for, per goods, so some must fail for stock.
  const demand = new Array<number>(o.goods).fill(0);
  for (const ord of orders) for (const it of ord.items) demand[it.goods]! += it.qty;
  const initialStock = demand.map((d) => Math.max(1, Math.floor(d * (0.4 + 0.3 * rng()))));
  // Limited money: 20-110 % of what each user's orders would cost, in 1-3 deposits, so some fail for money.
  const spend = new Array<number>(o.users).fill(0);
  for (const ord of orders) for (const it of ord.items) spend[ord.user]! += prices[it.goods]! * it.qty;
  const deposits = spend.map((s) => {
    const total = Math.max(100, Math.floor(s * (0.2 + 0.9 * rng())));
    const parts = int(1, 3);
    const out: number[] = [];
    let left = total;
    for (let i = 1; i < parts; i++) {
      const part = Math.max(1, Math.floor(left * rng() * 0.6));
      out.push(part);
      left -= part;
    }
    out.push(left);
    return out.filter((x) => x > 0);
  });
  const kinds = ['orders', 'goods', 'users'] as const;
  const killPauses = Array.from({ length: 200 }, () => int(o.killEveryMs[0], o.killEveryMs[1]));
  const killKinds = Array.from({ length: 200 }, () => kinds[int(0, 2)]!);
  const killPicks = Array.from({ length: 200 }, () => rng());
  return { tag, prices, initialStock, deposits, orders, killPauses, killKinds, killPicks, coordinatorKillAt: rng(), coordinatorPick: rng() };
}

interface RunUser {
  id: string;
  email: string;
  token: string;
}

const PASSWORD = 'chaos-password-1';

/**
 * Registers and logs in. Registration is not idempotent: when an attempt's answer is lost (a
 * gateway or users instance restarting after the previous run's nemesis) the account may exist,
 * so a retry's EMAIL_TAKEN for this run's unique email means "done".
 */
async function register(client: ShopClient, email: string, u: number): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const answer = await client.send('POST', '/api/v1/users', { body: { name: `Chaos ${u}`, email, password: PASSWORD, address: '1 Chaos Rd', phone: '+1 555 0100' } });
    if (answer.status === 201 || (attempt > 1 && answer.error === 'EMAIL_TAKEN')) return client.login(email, PASSWORD);
    const transient = answer.status === 0 || answer.status >= 500 || answer.status === 429;
    if (!transient || attempt >= 5) throw new Error(`POST /api/v1/users: ${answer.status} ${JSON.stringify(answer.body ?? answer.error)}`);
    await new Promise((r) => setTimeout(r, 200 * attempt));
  }
}

async function setUp(client: ShopClient, p: Plan, o: ChaosOptions): Promise<{ users: RunUser[]; goodsIds: string[]; admin: string }> {
  const admin = await client.login('admin@shop.local', 'shoal-admin-local');
  const goodsIds = await mapLimit(p.prices, 4, async (price, g) => {
    const body = await client.must('POST', '/api/v1/goods', { token: admin, body: { name: `${p.tag} goods ${g}`, price, stock: p.initialStock[g]! } });
    return body.id as string;
  });
  // Registering and logging in cost a scrypt hash each (~100 ms of CPU): a few at a time.
  const users = await mapLimit(p.deposits, 8, async (deposits, u) => {
    const email = `${p.tag}-u${u}@chaos.local`;
    const token = await register(client, email, u);
    const me = await client.must('GET', '/api/v1/users/me', { token });
    for (const [d, amount] of deposits.entries()) {
      // The deposit's Idempotency-Key makes the setup's own retries (must()) count once.
      await client.must('POST', '/api/v1/users/me/deposit', { token, body: { amount }, headers: { 'idempotency-key': `${p.tag}-dep-${u}-${d}` } });
    }
    return { id: me.id as string, email, token };
  });
  o.log(`setup: ${goodsIds.length} goods, ${users.length} users, ${p.deposits.flat().length} deposits`);
  return { users, goodsIds, admin };
}

interface KeyRecord {
  /** Every order id an answer for this key named. */
  orderIds: Set<string>;
  statuses: string[];
  answered: boolean;
}

interface LoadResult {
  keys: KeyRecord[];
  byOutcome: Record<string, number>;
  requests: number;
  retried: number;
  deliberateRepeats: number;
  shortTimeouts: number;
  latencies: number[];
  violations: string[];
  loadMs: number;
}

async function load(client: ShopClient, p: Plan, o: ChaosOptions, users: RunUser[], goodsIds: string[], endLoad: () => void): Promise<LoadResult> {
  const keys: KeyRecord[] = p.orders.map(() => ({ orderIds: new Set(), statuses: [], answered: false }));
  const byOutcome: Record<string, number> = {};
  const violations: string[] = [];
  let requests = 0;
  let retried = 0;
  let deliberateRepeats = 0;
  let shortTimeouts = 0;
  const latencies: number[] = [];
  const count = (k: string): void => void (byOutcome[k] = (byOutcome[k] ?? 0) + 1);

  const post = async (ord: PlannedOrder, timeoutMs: number): Promise<Answer> => {
    requests++;
    const started = performance.now();
    const answer = await client.send('POST', '/api/v1/orders', {
      token: users[ord.user]!.token,
      headers: { 'idempotency-key': ord.key },
      body: { items: ord.items.map((it) => ({ goodsId: goodsIds[it.goods]!, qty: it.qty })), mode: o.mode },
      timeoutMs,
    });
    const status = answer.status === 201 ? `201 ${String(answer.body?.status)}` : answer.status === 0 ? `client ${answer.error}` : `${answer.status} ${answer.error}`;
    count(status);
    if (answer.status === 201) {
      latencies.push(performance.now() - started);
      const rec = keys[ord.index]!;
      rec.answered = true;
      rec.orderIds.add(String(answer.body?.id));
      rec.statuses.push(String(answer.body?.status));
    } else if (answer.error === 'IDEMPOTENCY_CONFLICT') {
      violations.push(`key ${ord.key}: the same request repeated was refused as IDEMPOTENCY_CONFLICT`);
    }
    return answer;
  };

  /** Sends until an answer that ends the request: 201, or a 4xx that is not worth repeating. */
  const place = async (ord: PlannedOrder, first: boolean): Promise<void> => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const short = first && attempt === 0 && ord.shortTimeoutMs > 0;
      if (short) shortTimeouts++;
      if (attempt > 0) retried++;
      const answer = await post(ord, short ? ord.shortTimeoutMs : 20_000);
      if (answer.status === 201) return;
      if (answer.status >= 400 && answer.status < 500 && answer.status !== 429 && answer.status !== 408) return;
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt) * (0.5 + Math.random() / 2)));
    }
  };

  const started = performance.now();
  await mapLimit(p.orders, o.concurrency, async (ord) => {
    const due = started + (ord.index * o.minLoadMs) / p.orders.length;
    if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
    if (ord.repeat === 'concurrent') {
      deliberateRepeats++;
      await Promise.all([place(ord, true), place(ord, false)]);
    } else {
      await place(ord, true);
      if (ord.repeat === 'after') {
        deliberateRepeats++;
        await place(ord, false);
      }
    }
  });
  const loadMs = performance.now() - started;
  endLoad();
  return { keys, byOutcome, requests, retried, deliberateRepeats, shortTimeouts, latencies: latencies.sort((a, b) => a - b), violations, loadMs };
}

/** Pids of `shoal up`'s coordinator children, by name (from /proc: `shoal status` has no coordinator pids). */
function coordinatorPids(shop: ShopUp): { name: string; pid: number }[] {
  const out: { name: string; pid: number }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (!shop.owns(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const at = argv.indexOf('coord');
      if (at >= 0 && argv[at + 1] === '--name') out.push({ name: argv[at + 2]!, pid });
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Kills on the plan's schedule until `stop` resolves (or its own bound passes). */
async function nemesis(shop: ShopUp, p: Plan, o: ChaosOptions, stop: Promise<void>, t0: number): Promise<{ kills: Kill[]; stoppedAt: number }> {
  const kills: Kill[] = [];
  let stopped = false;
  void stop.then(() => (stopped = true));
  const bound = o.nemesisMs > 0 ? t0 + o.nemesisMs : Infinity;
  let coordinatorKilled = false;
  const lastKill = new Map<string, number>();
  for (let n = 0; n < p.killPauses.length; n++) {
    await Promise.race([stop, new Promise((r) => setTimeout(r, p.killPauses[n]))]);
    if (stopped || performance.now() >= bound) break;
    const elapsed = performance.now() - t0;
    // One coordinator node per run, at a seeded point early in the run.
    if (!coordinatorKilled && elapsed >= 500 + p.coordinatorKillAt * 2_500) {
      coordinatorKilled = true;
      const coords = coordinatorPids(shop);
      const victim = coords[Math.floor(p.coordinatorPick * coords.length)];
      if (victim !== undefined && shop.owns(victim.pid)) {
        process.kill(victim.pid, 'SIGKILL');
        kills.push({ atMs: Math.round(elapsed), kind: 'coordinator', name: victim.name, pid: victim.pid });
        o.log(`nemesis: +${(elapsed / 1000).toFixed(1)} s SIGKILL coordinator ${victim.name} (pid ${victim.pid})`);
      }
      continue;
    }
    const now = performance.now();
    const kinds = [p.killKinds[n]!, ...(['orders', 'goods', 'users'] as const)].filter((k) => now - (lastKill.get(k) ?? -Infinity) >= o.serviceRestMs);
    const kind = kinds[0];
    if (kind === undefined) continue;
    // The supervisor's own list (the control socket `shoal scale`/`kill` use): `shoal status
    // --json` takes 3-5 s per call on this loaded machine (a tsx start plus a /readyz probe per
    // instance), which spaced the kills far wider than planned.
    let children: { name: string; pid: number | null }[];
    try {
      const answer = await sendControl(shop.dataDir, { op: 'list' }, 5_000);
      if (!answer.ok) throw new Error(answer.error);
      children = answer.children ?? [];
    } catch (err) {
      o.log(`nemesis: listing shoal up's children failed (${(err as Error).message}); skipping this kill`);
      continue;
    }
    if (stopped || performance.now() >= bound) break;
    const candidates = children.filter((c): c is { name: string; pid: number } => c.name.startsWith(`${kind}-`) && c.pid !== null && shop.owns(c.pid));
    const victim = candidates[Math.floor(p.killPicks[n]! * candidates.length)];
    if (victim === undefined) continue;
    const at = performance.now() - t0;
    process.kill(victim.pid, 'SIGKILL');
    lastKill.set(kind, performance.now());
    kills.push({ atMs: Math.round(at), kind, name: victim.name, pid: victim.pid });
    o.log(`nemesis: +${(at / 1000).toFixed(1)} s SIGKILL ${kind} ${victim.name} (pid ${victim.pid})`);
  }
  return { kills, stoppedAt: performance.now() };
}

interface ListedOrder {
  id: string;
  userId: string;
  status: string;
  total: number;
  items: { goodsId: string; qty: number; price: number }[];
  failure?: { code: string };
}

async function listOrders(client: ShopClient, user: RunUser): Promise<ListedOrder[] | undefined> {
  const out: ListedOrder[] = [];
  let cursor: string | null = null;
  do {
    const answer = await client.send('GET', `/api/v1/orders?limit=100${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: user.token, timeoutMs: 10_000 });
    if (answer.status !== 200) return undefined;
    out.push(...(answer.body!.items as ListedOrder[]));
    cursor = (answer.body!.nextCursor as string | null) ?? null;
  } while (cursor !== null);
  return out;
}

/** Every user's orders, re-read for users that had a pending order (or a failed read) until none or the deadline. */
async function settle(client: ShopClient, users: RunUser[], deadline: number): Promise<{ orders: Map<string, ListedOrder[]>; settled: boolean }> {
  const orders = new Map<string, ListedOrder[]>();
  let todo = users;
  for (;;) {
    const lists = await mapLimit(todo, 8, (u) => listOrders(client, u));
    const again: RunUser[] = [];
    todo.forEach((u, i) => {
      const list = lists[i];
      if (list !== undefined) orders.set(u.id, list);
      if (list === undefined || list.some((x) => x.status === 'pending')) again.push(u);
    });
    if (again.length === 0) return { orders, settled: true };
    if (performance.now() >= deadline) return { orders, settled: false };
    todo = again;
    // Other processes finish the orders; polling the API is the only way to see it.
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Figures {
  wallets: number;
  confirmedTotals: number;
  stock: { goodsId: string; initial: number; stock: number; sold: number }[];
  problems: string[];
}

async function figures(client: ShopClient, p: Plan, users: RunUser[], goodsIds: string[], orders: Map<string, ListedOrder[]>): Promise<Figures | undefined> {
  const wallets = await mapLimit(users, 8, async (u) => {
    const a = await client.send('GET', '/api/v1/users/me', { token: u.token, timeoutMs: 10_000 });
    return a.status === 200 ? (a.body!.wallet as number) : undefined;
  });
  const stocks = await mapLimit(goodsIds, 5, async (id) => {
    const a = await client.send('GET', `/api/v1/goods/${id}`, { timeoutMs: 10_000 });
    return a.status === 200 ? (a.body!.stock as number) : undefined;
  });
  if (wallets.includes(undefined) || stocks.includes(undefined)) return undefined;
  const sold = new Map<string, number>(goodsIds.map((id) => [id, 0]));
  let confirmedTotals = 0;
  for (const list of orders.values()) {
    for (const ord of list) {
      if (ord.status !== 'confirmed') continue;
      confirmedTotals += ord.total;
      for (const it of ord.items) sold.set(it.goodsId, (sold.get(it.goodsId) ?? 0) + it.qty);
    }
  }
  const deposits = p.deposits.flat().reduce((a, b) => a + b, 0);
  const walletSum = (wallets as number[]).reduce((a, b) => a + b, 0);
  const stock = goodsIds.map((goodsId, g) => ({ goodsId, initial: p.initialStock[g]!, stock: stocks[g]!, sold: sold.get(goodsId)! }));
  const problems: string[] = [];
  if (walletSum + confirmedTotals !== deposits) {
    problems.push(`money not conserved: Σ wallets ${walletSum} + Σ confirmed totals ${confirmedTotals} = ${walletSum + confirmedTotals} ≠ Σ deposits ${deposits} (off by ${walletSum + confirmedTotals - deposits})`);
  }
  for (const s of stock) {
    if (s.stock + s.sold !== s.initial) problems.push(`stock not conserved for ${s.goodsId}: stock ${s.stock} + sold ${s.sold} = ${s.stock + s.sold} ≠ initial ${s.initial}`);
  }
  const negative = (wallets as number[]).filter((w) => w < 0).length;
  if (negative > 0) problems.push(`${negative} wallets below zero`);
  return { wallets: walletSum, confirmedTotals, stock, problems };
}

/** The orders database read directly (read-only): one order per (user, key), and which order each key holds. */
function idempotencyRows(shop: ShopUp, userIds: string[]): { byKey: Map<string, string>; ordersOfUsers: number; rowsOfUsers: number } {
  const db = new Database(join(shop.dataDir, 'services', 'orders', 'orders.db'), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const marks = userIds.map(() => '?').join(',');
    const rows = db.prepare(`SELECT user_id, key, order_id FROM idempotency WHERE user_id IN (${marks})`).all(...userIds) as { user_id: string; key: string; order_id: string }[];
    const ordersOfUsers = (db.prepare(`SELECT count(*) AS n FROM orders WHERE user_id IN (${marks})`).get(...userIds) as { n: number }).n;
    return { byKey: new Map(rows.map((r) => [`${r.user_id}\n${r.key}`, r.order_id])), ordersOfUsers, rowsOfUsers: rows.length };
  } finally {
    db.close();
  }
}

export async function runOrdersChaos(shop: ShopUp, options: ChaosOptions): Promise<ChaosReport> {
  const o = options;
  const t = { start: performance.now() };
  const p = plan(o);
  const client = new ShopClient(shop.gateway, o.concurrency + 32);
  try {
    o.log(`run seed=${o.seed} mode=${o.mode} orders=${o.orders} users=${o.users} goods=${o.goods} concurrency=${o.concurrency} tag=${p.tag}`);
    const { users, goodsIds } = await setUp(client, p, o);
    const setupMs = performance.now() - t.start;

    let endLoad!: () => void;
    const loadEnded = new Promise<void>((r) => (endLoad = r));
    const t0 = performance.now();
    const nem = o.nemesis ? nemesis(shop, p, o, loadEnded, t0) : Promise.resolve({ kills: [] as Kill[], stoppedAt: t0 });
    const result = await load(client, p, o, users, goodsIds, endLoad);
    const { kills, stoppedAt } = await nem;
    const end = Math.max(performance.now(), stoppedAt);
    o.log(`load: ${result.requests} requests in ${(result.loadMs / 1000).toFixed(1)} s, ${kills.length} kills; outcomes ${JSON.stringify(result.byOutcome)}`);

    // Every order ended within the bound after the end, and the invariants hold by then.
    const deadline = end + o.settleBoundMs;
    const { orders, settled } = await settle(client, users, deadline);
    const settleMs = performance.now() - end;
    const checkFrom = performance.now();
    const violations = [...result.violations];
    const all = [...orders.values()].flat();
    const pending = all.filter((x) => x.status === 'pending');
    if (!settled) violations.push(`${pending.length} orders still pending ${Math.round(o.settleBoundMs / 1000)} s after the end (e.g. ${pending.slice(0, 5).map((x) => x.id).join(', ')}); ${users.length - orders.size} users' orders unreadable`);

    // Money and stock: checked once every order has ended; a participant may still be finishing a
    // branch (2PC phase two, a compensation) for a moment, so re-read until they hold or the bound.
    let fig: Figures | undefined;
    let firstRead: string[] | undefined;
    for (;;) {
      fig = await figures(client, p, users, goodsIds, orders);
      firstRead ??= fig?.problems ?? ['unreadable'];
      if (fig !== undefined && fig.problems.length === 0) break;
      if (performance.now() >= Math.max(deadline, checkFrom + 5_000)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (fig === undefined) violations.push('could not read every wallet and stock level at the end');
    else violations.push(...fig.problems);
    const converged = performance.now() - checkFrom;
    // Not a violation (the bound is what counts), but worth seeing: e.g. a 2PC order ended from the
    // stored decision while a participant had not yet applied phase two.
    if (firstRead.length > 0 && fig !== undefined && fig.problems.length === 0) o.log(`  note: the first read after every order ended did not balance yet (${firstRead.join('; ')}); it did after ${(converged / 1000).toFixed(1)} s`);

    // Keys: every answer for a key names one order; the database holds one order per key; each order is its key's request.
    const db = idempotencyRows(shop, users.map((u) => u.id));
    const byId = new Map(all.map((x) => [x.id, x]));
    let keysWithoutAnswer = 0;
    for (const ord of p.orders) {
      const rec = result.keys[ord.index]!;
      const user = users[ord.user]!;
      const stored = db.byKey.get(`${user.id}\n${ord.key}`);
      if (rec.orderIds.size > 1) violations.push(`key ${ord.key}: answers named ${rec.orderIds.size} different orders (${[...rec.orderIds].join(', ')})`);
      if (!rec.answered) keysWithoutAnswer++;
      for (const id of rec.orderIds) {
        if (stored !== id) violations.push(`key ${ord.key}: answered order ${id} but the database maps the key to ${stored ?? 'nothing'}`);
      }
      if (stored === undefined) continue;
      const listed = byId.get(stored);
      if (listed === undefined) {
        violations.push(`key ${ord.key}: order ${stored} is not in ${user.email}'s list`);
        continue;
      }
      const want = ord.items.map((it) => `${goodsIds[it.goods]}×${it.qty}`).sort().join(',');
      const got = listed.items.map((it) => `${it.goodsId}×${it.qty}`).sort().join(',');
      if (want !== got) violations.push(`order ${stored} (key ${ord.key}) holds ${got}, its request asked for ${want}`);
      const total = listed.items.reduce((a, it) => a + it.price * it.qty, 0);
      if (total !== listed.total) violations.push(`order ${stored}: total ${listed.total} ≠ Σ price × qty ${total}`);
      const price = new Map(goodsIds.map((id, g) => [id, p.prices[g]!]));
      for (const it of listed.items) if (price.get(it.goodsId) !== it.price) violations.push(`order ${stored}: price of ${it.goodsId} is ${it.price}, the goods costs ${price.get(it.goodsId)}`);
    }
    if (db.ordersOfUsers !== db.rowsOfUsers) violations.push(`the database holds ${db.ordersOfUsers} orders of this run's users but ${db.rowsOfUsers} idempotency keys`);
    if (all.length !== db.ordersOfUsers) violations.push(`the API lists ${all.length} orders of this run's users, the database holds ${db.ordersOfUsers}`);
    if (db.rowsOfUsers > p.orders.length) violations.push(`${db.rowsOfUsers} orders for ${p.orders.length} keys`);

    const failures: Record<string, number> = {};
    for (const x of all) if (x.status === 'failed') failures[x.failure?.code ?? '?'] = (failures[x.failure?.code ?? '?'] ?? 0) + 1;
    const report: ChaosReport = {
      seed: o.seed,
      mode: o.mode,
      orders: o.orders,
      placed: all.length,
      confirmed: all.filter((x) => x.status === 'confirmed').length,
      failed: all.filter((x) => x.status === 'failed').length,
      pending: pending.length,
      failures,
      requests: { total: result.requests, retried: result.retried, deliberateRepeats: result.deliberateRepeats, shortTimeouts: result.shortTimeouts, byOutcome: result.byOutcome },
      keysWithoutAnswer,
      kills,
      money: { deposits: p.deposits.flat().reduce((a, b) => a + b, 0), wallets: fig?.wallets ?? NaN, confirmedTotals: fig?.confirmedTotals ?? NaN },
      stock: fig?.stock ?? [],
      timing: {
        setupMs: Math.round(setupMs),
        loadMs: Math.round(result.loadMs),
        ordersPerSecond: Math.round((o.orders / result.loadMs) * 1000),
        p50Ms: Math.round(quantile(result.latencies, 0.5)),
        p99Ms: Math.round(quantile(result.latencies, 0.99)),
        settleMs: Math.round(settleMs),
        checkMs: Math.round(performance.now() - checkFrom),
        totalMs: Math.round(performance.now() - t.start),
      },
      violations,
    };
    printReport(report, o.log, converged);
    return report;
  } finally {
    await client.close();
  }
}

function printReport(r: ChaosReport, log: (line: string) => void, convergedMs: number): void {
  const kills = Object.entries(r.kills.reduce<Record<string, number>>((acc, k) => ((acc[k.kind] = (acc[k.kind] ?? 0) + 1), acc), {}))
    .map(([k, n]) => `${k}×${n}`)
    .join(' ');
  log(
    `seed=${r.seed} mode=${r.mode} keys=${r.orders} orders=${r.placed} confirmed=${r.confirmed} failed=${r.failed} ${JSON.stringify(r.failures)} pending=${r.pending} ` +
      `requests=${r.requests.total} (retries ${r.requests.retried}, deliberate repeats ${r.requests.deliberateRepeats}, short timeouts ${r.requests.shortTimeouts}, keys never answered ${r.keysWithoutAnswer}) kills: ${kills || 'none'}`,
  );
  log(
    `  money: Σ deposits ${r.money.deposits} = Σ wallets ${r.money.wallets} + Σ confirmed ${r.money.confirmedTotals} ${r.money.deposits === r.money.wallets + r.money.confirmedTotals ? 'OK' : 'VIOLATED'}; ` +
      `stock: ${r.stock.map((s) => `${s.initial}=${s.stock}+${s.sold}${s.initial === s.stock + s.sold ? '' : '!'}`).join(' ')}`,
  );
  log(
    `  timing: setup ${(r.timing.setupMs / 1000).toFixed(1)} s, load ${(r.timing.loadMs / 1000).toFixed(1)} s (${r.timing.ordersPerSecond} keys/s, 201 p50 ${r.timing.p50Ms} ms p99 ${r.timing.p99Ms} ms), ` +
      `all ended ${(r.timing.settleMs / 1000).toFixed(1)} s after the end, invariants read in ${(convergedMs / 1000).toFixed(1)} s, run ${(r.timing.totalMs / 1000).toFixed(1)} s`,
  );
  log(`  violations: ${r.violations.length === 0 ? 'none' : ''}`);
  for (const v of r.violations.slice(0, 20)) log(`    - ${v}`);
  if (r.violations.length > 20) log(`    … and ${r.violations.length - 20} more`);
}

export function replayCommand(o: Omit<ChaosOptions, 'log'>): string {
  return (
    `npx tsx test/chaos/orders-chaos.ts --runs 1 --mode ${o.mode} --orders ${o.orders} --users ${o.users} --goods ${o.goods} --concurrency ${o.concurrency} --seed ${o.seed}` +
    (o.nemesis ? ` --nemesis-ms ${o.nemesisMs} --kill-every ${o.killEveryMs.join(',')} --service-rest-ms ${o.serviceRestMs}` : ' --no-nemesis') +
    (o.minLoadMs > 0 ? ` --min-load-ms ${o.minLoadMs}` : '')
  );
}

/** The environment `shoal up` runs with for these runs: per-request client addresses (X-Forwarded-For). */
export const CHAOS_ENV: Record<string, string> = { SHOAL_TRUST_PROXY: '1' };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1' },
      mode: { type: 'string', default: 'saga' },
      orders: { type: 'string', default: String(DEFAULT_OPTIONS.orders) },
      seed: { type: 'string' },
      users: { type: 'string', default: String(DEFAULT_OPTIONS.users) },
      goods: { type: 'string', default: String(DEFAULT_OPTIONS.goods) },
      concurrency: { type: 'string', default: String(DEFAULT_OPTIONS.concurrency) },
      'nemesis-ms': { type: 'string', default: String(DEFAULT_OPTIONS.nemesisMs) },
      'no-nemesis': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      json: { type: 'string' },
      'max-minutes': { type: 'string' },
      'kill-every': { type: 'string', default: DEFAULT_OPTIONS.killEveryMs.join(',') },
      'service-rest-ms': { type: 'string', default: String(DEFAULT_OPTIONS.serviceRestMs) },
      'min-load-ms': { type: 'string', default: String(DEFAULT_OPTIONS.minLoadMs) },
    },
  });
  const modes = values.mode === 'both' ? (['saga', '2pc'] as const) : [values.mode as Mode];
  for (const m of modes) if (m !== 'saga' && m !== '2pc') throw new Error(`--mode: saga, 2pc or both, not ${m}`);
  const seed0 = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  const log = (line: string): void => void process.stdout.write(`[chaos] ${line}\n`);
  const shop = await ShopUp.start(CHAOS_ENV, 150_000);
  log(`shoal up ready: ${shop.gateway} data ${shop.dataDir}`);
  // Interrupted (Ctrl-C, a CI timeout): stop the cluster this runner started instead of leaving
  // an orphaned shoal up and its coordinators running.
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping shoal up`);
    void shop.stop(60_000).finally(() => {
      if (!values.keep) shop.removeDataDir();
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const reports: ChaosReport[] = [];
  const failedRuns: string[] = [];
  try {
    const stopAt = values['max-minutes'] !== undefined ? performance.now() + Number(values['max-minutes']) * 60_000 : Infinity;
    runs: for (let i = 0; i < Number(values.runs); i++) {
      for (const mode of modes) {
        if (performance.now() >= stopAt) {
          log(`--max-minutes ${values['max-minutes']} reached: no further runs`);
          break runs;
        }
        const o: ChaosOptions = {
          ...DEFAULT_OPTIONS,
          seed: seed0 + i,
          mode,
          orders: Number(values.orders),
          users: Number(values.users),
          goods: Number(values.goods),
          concurrency: Number(values.concurrency),
          nemesis: !values['no-nemesis'],
          nemesisMs: Number(values['nemesis-ms']),
          killEveryMs: values['kill-every'].split(',').map(Number) as [number, number],
          serviceRestMs: Number(values['service-rest-ms']),
          minLoadMs: Number(values['min-load-ms']),
          log,
        };
        const r = await runOrdersChaos(shop, o);
        reports.push(r);
        if (r.violations.length > 0) {
          failedRuns.push(`seed ${o.seed} (${mode}): ${r.violations.length} violations; replay: ${replayCommand(o)}`);
          log(`VIOLATION in seed ${o.seed} (${mode}); replay: ${replayCommand(o)}`);
        }
      }
    }
  } finally {
    const { code, leftovers } = await shop.stop(60_000);
    log(`shoal up stopped (exit ${code}); processes left: ${leftovers.length}`);
    if (values.keep) log(`data and logs kept in ${shop.dataDir}`);
    else shop.removeDataDir();
  }
  if (values.json !== undefined) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(values.json, JSON.stringify(reports, null, 2));
  }
  const sum = (f: (r: ChaosReport) => number): number => reports.reduce((a, r) => a + f(r), 0);
  log(
    `summary: ${reports.length} runs, ${sum((r) => r.placed)} orders (${sum((r) => r.confirmed)} confirmed, ${sum((r) => r.failed)} failed, ${sum((r) => r.pending)} pending), ` +
      `${sum((r) => r.kills.length)} kills, ${sum((r) => r.violations.length)} violations`,
  );
  for (const f of failedRuns) log(`FAILED ${f}`);
  process.exitCode = failedRuns.length > 0 ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`[chaos] ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
