// The orders chaos test at CI size (issue 6): one `shoal up`, one saga run and one 2PC run of 200
// orders each from 30 users over 5 goods, with a short nemesis (SIGKILL of orders, goods and users
// instances and one coordinator node). The full size is `npm run chaos:orders -- --runs 20 --mode
// saga|2pc --orders 1000` (test/chaos/orders-chaos.ts, which also explains every check).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShopUp } from '../failover/shop-up.js';
import { CHAOS_ENV, DEFAULT_OPTIONS, replayCommand, runOrdersChaos, type ChaosOptions, type Mode } from './orders-chaos.js';

const SEED = Number(process.env.SHOAL_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));

let shop: ShopUp | undefined;

beforeAll(async () => {
  shop = await ShopUp.start(CHAOS_ENV, 100_000);
}, 120_000);

afterAll(async () => {
  if (shop === undefined) return;
  const { code, leftovers } = await shop.stop(40_000);
  process.stdout.write(`[chaos] shoal up stopped (exit ${code}); processes left: ${leftovers.length}\n`);
  if (process.env.SHOAL_CHAOS_KEEP === undefined) shop.removeDataDir();
  else process.stdout.write(`[chaos] data and logs kept in ${shop.dataDir}\n`);
  expect(leftovers).toEqual([]);
}, 60_000);

function options(mode: Mode, seed: number): ChaosOptions {
  return {
    ...DEFAULT_OPTIONS,
    seed,
    mode,
    orders: 200,
    users: 30,
    concurrency: 32,
    nemesisMs: 6_000,
    killEveryMs: [1_000, 2_000],
    serviceRestMs: 3_000,
    // On a quiet machine 200 orders take under 2 s: spread them over the nemesis' window.
    minLoadMs: 6_000,
    log: (line) => void process.stdout.write(`[chaos] ${line}\n`),
  };
}

describe('orders under SIGKILL of orders, goods, users and a coordinator (real processes, CI size)', () => {
  for (const [i, mode] of (['saga', '2pc'] as const).entries()) {
    it(`${mode}: money and stock conserved, every order ended within 30 s, one order per Idempotency-Key`, async () => {
      const o = options(mode, SEED + i);
      const r = await runOrdersChaos(shop!, o);
      const replay = `seed ${o.seed}; replay: ${replayCommand(o)}`;
      expect(r.violations, replay).toEqual([]);
      expect(r.pending, replay).toBe(0);
      expect(r.kills.filter((k) => k.kind === 'coordinator'), `one coordinator node killed (${replay})`).toHaveLength(1);
      expect(r.kills.filter((k) => k.kind !== 'coordinator').length, `orders/goods/users instances killed (${replay})`).toBeGreaterThan(0);
      // The workload is shaped so that orders both succeed and fail; a run where none is confirmed checks little.
      expect(r.confirmed, replay).toBeGreaterThan(0);
      expect(r.failed, replay).toBeGreaterThan(0);
      expect(r.money.wallets + r.money.confirmedTotals, replay).toBe(r.money.deposits);
    }, 150_000);
  }
});
