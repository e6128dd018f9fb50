// The three shop services in one runtime host on loopback (in-memory discovery), a broker to call
// them, and helpers to make a funded user and goods and to read the orders database's outbox.
import Database from 'better-sqlite3';
import { connectBroker, isShoalError, startServices, type Broker, type ServiceHost } from '../../src/index.js';
import { shopServices, type ShopServicesOptions } from '../../src/shop/index.js';
import type { Goods } from '../../src/shop/goods/index.js';
import type { Order } from '../../src/shop/orders/index.js';
import type { User } from '../../src/shop/users/index.js';
import { CHEAP_HASH, tempDir, type TempDir } from './helpers.js';
import { MemoryRegistry } from './memory-registry.js';

export interface ShopFixture {
  dir: TempDir;
  host: ServiceHost;
  broker: Broker;
  user(wallet: number): Promise<User>;
  goods(price: number, stock: number): Promise<Goods>;
  stock(id: string): Promise<number>;
  wallet(id: string): Promise<number>;
  place(params: Record<string, unknown>): Promise<Order>;
  /** Events in the orders outbox. */
  outbox(): { event: string; payload: unknown }[];
  close(): Promise<void>;
}

let seq = 0;

export async function startShop(extra: Partial<ShopServicesOptions> = {}): Promise<ShopFixture> {
  const dir = tempDir('shoal-orders-');
  const registry = new MemoryRegistry();
  const env = { SHOAL_DATA_DIR: dir.path };
  const host = await startServices(
    shopServices({
      users: { env, store: { hash: CHEAP_HASH }, ...extra.users },
      goods: { env, ...extra.goods },
      orders: { env, ...extra.orders },
    }),
    { view: registry.view, registry, dataDir: dir.path, admin: false, logLevel: 'silent', drain: { graceMs: 0, timeoutMs: 2_000 } },
  );
  const broker = await connectBroker({ view: registry.view, name: 'test', logLevel: 'silent' });
  const f: ShopFixture = {
    dir,
    host,
    broker,
    async user(wallet) {
      const n = ++seq;
      const u = await broker.call<User>('users.create', { name: `Buyer ${n}`, email: `buyer${n}-${process.pid}@example.com`, password: 'buyer password', address: '1 Loop Rd', phone: '5550100' });
      if (wallet > 0) await broker.call('users.deposit', { id: u.id, amount: wallet, requestId: `dep-${u.id}` }, { idempotent: true });
      return broker.call<User>('users.get', { id: u.id });
    },
    goods: (price, stock) => broker.call<Goods>('goods.create', { name: `Item ${++seq}`, price, stock }),
    stock: async (id) => (await broker.call<Goods>('goods.get', { id })).stock,
    wallet: async (id) => (await broker.call<User>('users.get', { id })).wallet,
    place: (params) => broker.call<Order>('orders.place', params, { timeoutMs: 20_000 }),
    outbox() {
      const db = new Database(dir.file('orders.db'), { readonly: true });
      try {
        return (db.prepare('SELECT event, payload FROM shoal_outbox ORDER BY created_at, rowid').all() as { event: string; payload: string }[]).map((r) => ({
          event: r.event,
          payload: JSON.parse(r.payload) as unknown,
        }));
      } finally {
        db.close();
      }
    },
    async close() {
      await broker.close();
      await host.stop();
      dir.remove();
    },
  };
  return f;
}

export function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (isShoalError(e) ? e.code : `not a ShoalError: ${String(e)}`),
  );
}
