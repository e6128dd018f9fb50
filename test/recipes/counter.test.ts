import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Etcd3, ITxnRequest, ITxnResponse } from 'etcd3';
import { Counter, counterKey, createCoordClient, OutcomeUnknownError } from '../../src/recipes/index.js';
import { SERVERS, uniqueName, useServer, within } from '../contract/harness.js';
import { LinkProxy } from '../support/fault-proxy.js';

type Txn = (req: ITxnRequest) => Promise<ITxnResponse>;

/** Replaces the client's Txn with `wrap(real)` (the recipes call client.kv.txn). */
function interceptTxn(client: Etcd3, wrap: (real: Txn) => Txn): void {
  const real: Txn = client.kv.txn.bind(client.kv);
  client.kv.txn = wrap(real);
}

describe.each(SERVERS)('counter recipe on $name', (kind) => {
  const fx = useServer(kind);

  it('ends at exactly the total with concurrent incrementers, each seeing a distinct value', async () => {
    const name = uniqueName('hits');
    const clients = [fx.client(), fx.client(), fx.client(), fx.client()];
    const workers = 8;
    const each = 10;
    const seen: number[] = [];
    await within(Promise.all(Array.from({ length: workers }, async (_, w) => {
      const counter = new Counter(clients[w % clients.length]!, name);
      for (let i = 0; i < each; i++) seen.push((await counter.increment()).value);
    })), 60_000, 'all increments');
    const total = workers * each;
    expect((await new Counter(clients[0]!, name).get()).value).toBe(total);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });

  it('adds, subtracts and resets; reads a hand-set integer', async () => {
    const name = uniqueName('misc');
    const client = fx.client();
    const counter = new Counter(client, name);
    expect(await counter.get()).toEqual({ value: 0, modRevision: 0n });
    expect((await counter.add(5)).value).toBe(5);
    expect((await counter.add(-7)).value).toBe(-2);
    await client.put(counterKey(name)).value('41'); // e.g. etcdctl put /shoal/counters/<name> 41
    expect((await counter.increment()).value).toBe(42);
    const reset = await counter.reset();
    expect(reset.value).toBe(0);
    const after = await counter.get();
    expect(after).toEqual({ value: 0, modRevision: reset.modRevision });
    await expect(counter.add(0.5)).rejects.toThrow(RangeError);
  });

  describe('settles a compare-and-set whose outcome is unknown', () => {
    it('counts once when the write landed but the reply was lost', async () => {
      const name = uniqueName('landed');
      const client = fx.client();
      let inject = true;
      interceptTxn(client, (real) => async (req) => {
        if (!inject) return real(req);
        inject = false;
        await real(req);
        throw new OutcomeUnknownError('KV.txn', new Error('injected: reply lost'));
      });
      expect((await new Counter(client, name).increment()).value).toBe(1);
      expect((await new Counter(fx.client(), name).get()).value).toBe(1);
    });

    it('counts once when the write did not land', async () => {
      const name = uniqueName('notlanded');
      const client = fx.client();
      let inject = true;
      interceptTxn(client, (real) => async (req) => {
        if (!inject) return real(req);
        inject = false;
        throw new OutcomeUnknownError('KV.txn', new Error('injected: request lost'));
      });
      expect((await new Counter(client, name).increment()).value).toBe(1);
      expect((await new Counter(fx.client(), name).get()).value).toBe(1);
    });

    it('tells its own landed write from a competitor that wrote after it', async () => {
      const name = uniqueName('raced-landed');
      const [client, other] = [fx.client(), fx.client()];
      let inject = true;
      interceptTxn(client, (real) => async (req) => {
        if (!inject) return real(req);
        inject = false;
        await real(req);
        expect((await new Counter(other, name).increment()).value).toBe(2);
        throw new OutcomeUnknownError('KV.txn', new Error('injected: reply lost'));
      });
      expect((await new Counter(client, name).increment()).value).toBe(1);
      expect((await new Counter(other, name).get()).value).toBe(2);
    });

    it('retries when a competitor, not its lost write, came first', async () => {
      const name = uniqueName('raced-lost');
      const [client, other] = [fx.client(), fx.client()];
      let inject = true;
      interceptTxn(client, (real) => async (req) => {
        if (!inject) return real(req);
        inject = false;
        expect((await new Counter(other, name).increment()).value).toBe(1);
        throw new OutcomeUnknownError('KV.txn', new Error('injected: request lost'));
      });
      expect((await new Counter(client, name).increment()).value).toBe(2);
      expect((await new Counter(other, name).get()).value).toBe(2);
    });

    it('reports OutcomeUnknownError rather than guessing when every attempt is unknown', async () => {
      const name = uniqueName('unknowable');
      const client = fx.client();
      interceptTxn(client, () => async () => {
        throw new OutcomeUnknownError('KV.txn', new Error('injected: cluster unreachable'));
      });
      await expect(new Counter(client, name, { settleAttempts: 3 }).increment()).rejects.toBeInstanceOf(OutcomeUnknownError);
    });
  });

  describe('through a connection that loses replies', () => {
    let proxy: LinkProxy;
    beforeAll(async () => {
      proxy = new LinkProxy('coord', Number(new URL(fx.server.endpoints[0]!).port), 'client');
      await proxy.start();
    });
    afterAll(async () => {
      await proxy.stop();
    });

    it('counts a CAS whose reply never arrived exactly once', async () => {
      const name = uniqueName('proxied');
      const counter = new Counter(fx.client(), name);
      await counter.add(10);
      const client = createCoordClient([proxy.url], { callTimeoutMs: 1000 });
      try {
        // Arm the fault after the read, so the CAS that follows reaches the server but its reply is lost.
        let armed = true;
        const realRange = client.kv.range.bind(client.kv);
        client.kv.range = async (...args) => {
          const res = await realRange(...args);
          if (armed) proxy.loseReplies();
          return res;
        };
        const failures: unknown[] = [];
        interceptTxn(client, (real) => async (req) => {
          try {
            return await real(req);
          } catch (err) {
            failures.push(err);
            armed = false;
            throw err;
          }
        });
        const result = await within(new Counter(client, name).increment(), 20_000, 'increment through the faulty proxy');
        expect(failures).toHaveLength(1);
        expect(failures[0]).toBeInstanceOf(OutcomeUnknownError);
        expect(result.value).toBe(11);
        expect((await counter.get()).value).toBe(11);
      } finally {
        client.close();
      }
    });
  });
});
