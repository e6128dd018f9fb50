// Property: whatever the network does to branch calls (lost requests, lost replies, timeouts,
// duplicates, unknown outcomes) and wherever the orchestrator crashes, every saga ends committed
// with all its effects applied once, or aborted with none; stock and money are conserved; each
// saga's onFinished runs exactly once.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { orderSaga, type Fault } from './saga-fixtures.js';
import { SagaWorld } from './saga-harness.js';

let world: SagaWorld | undefined;
afterEach(() => {
  world?.close();
  world = undefined;
});

const LEASE = 60_000;
const faultArb = fc.constantFrom<Fault>('none', 'none', 'none', 'lost-request', 'lost-reply', 'timeout', 'duplicate', 'crash-unknown');

describe('saga property', () => {
  it('random failure schedules and crash points end committed-once or aborted-with-no-effect', async () => {
    const seen = { crash: 0, committed: 0, aborted: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          stock: fc.integer({ min: 0, max: 6 }),
          cents: fc.integer({ min: 0, max: 300 }),
          orders: fc.array(fc.record({ qty: fc.integer({ min: 1, max: 3 }), cents: fc.integer({ min: 1, max: 120 }) }), { minLength: 1, maxLength: 4 }),
          faults: fc.array(faultArb, { maxLength: 40 }),
          crashAt: fc.option(fc.integer({ min: 0, max: 14 }), { nil: undefined }),
          attempts: fc.integer({ min: 1, max: 3 }),
        }),
        async (c) => {
          world?.close();
          const w = (world = new SagaWorld(c.stock, c.cents));
          const orders = new Map(c.orders.map((o, i) => [`p${i}`, o]));
          const callerA = w.caller((_r, i) => (i === c.crashAt ? 'hang' : c.faults[i] ?? 'none'));
          const a = w.orchestrator(callerA, { id: 'A', actionAttempts: c.attempts });
          const runs = Promise.allSettled([...orders].map(([gid, o]) => a.orch.run(orderSaga(gid, o.qty, o.cents))));
          const how = await Promise.race([runs.then(() => 'done' as const), callerA.nextHang().then(() => 'crash' as const)]);
          let db = a.db;
          if (how === 'crash') {
            seen.crash++;
            a.db.close();
            w.clock.advance(LEASE + 1);
            const callerB = w.caller((_r, i) => c.faults[i + 11] ?? 'none');
            const b = w.orchestrator(callerB, { id: 'B', actionAttempts: c.attempts });
            db = b.db;
            for (let pass = 0; pass < 3 && open(db) > 0; pass++) await b.orch.recoverOnce();
          } else {
            for (const r of await runs) if (r.status === 'rejected') throw r.reason;
          }
          expect(open(db)).toBe(0);
          const rows = db.prepare('SELECT gid, status FROM shoal_saga').all() as { gid: string; status: 'committed' | 'aborted' }[];
          const results = new Map(rows.map((r) => [r.gid, r.status]));
          expect(results.size).toBe(orders.size);
          w.checkInvariants(results, orders);
          // onFinished exactly once per saga, with the status the log holds.
          expect(w.finished.map((f) => f.result.gid).sort()).toEqual([...orders.keys()].sort());
          for (const f of w.finished) expect(f.result.status).toBe(results.get(f.result.gid));
          for (const status of results.values()) seen[status]++;
        },
      ),
      { numRuns: 100 },
    );
    // The schedules reached every path: crashes, commits and aborts.
    expect(Math.min(seen.crash, seen.committed, seen.aborted)).toBeGreaterThan(0);
  });
});

function open(db: import('better-sqlite3').Database): number {
  return (db.prepare("SELECT count(*) AS n FROM shoal_saga WHERE status IN ('running', 'compensating')").get() as { n: number }).n;
}
