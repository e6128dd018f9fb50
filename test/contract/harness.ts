// Shared by the contract, recipe and etcdctl suites: which servers to run against, one server per
// suite, clients that are closed with it, and bounded awaiting.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createCoordClient, type CoordClientOptions } from '../../src/recipes/index.js';
import { etcdServer, selectServers, type CoordServer, type CoordServerKind } from '../support/etcd-server.js';
import { shoalCoord } from '../support/shoal-coord.js';

/** The servers every parameterized suite runs against (SHOAL_CONTRACT_SERVERS=etcd,shoal). */
export const SERVERS: CoordServerKind[] = selectServers([etcdServer, shoalCoord]);

export interface ServerFixture {
  readonly server: CoordServer;
  /** A new client (closed after the suite). */
  client(opts?: CoordClientOptions): Etcd3;
}

/** Starts `kind` before the suite's tests and stops it (and closes its clients) after them. */
export function useServer(kind: CoordServerKind): ServerFixture {
  let server: CoordServer | undefined;
  const clients: Etcd3[] = [];
  beforeAll(async () => {
    server = await kind.start();
  });
  afterAll(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.stop();
  });
  return {
    get server(): CoordServer {
      if (!server) throw new Error(`${kind.name} server is not running`);
      return server;
    },
    client(opts?: CoordClientOptions): Etcd3 {
      if (!server) throw new Error(`${kind.name} server is not running`);
      const c = createCoordClient(server.endpoints, { callTimeoutMs: 10_000, ...opts });
      clients.push(c);
      return c;
    },
  };
}

/** Awaits `p`, failing with `what` if it takes longer than `ms`: a bound, not a delay. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when `signal` aborts (at once if it already has), bounded by `ms`. */
export function aborted(signal: AbortSignal, ms: number, what: string): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return within(new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true })), ms, what);
}

/** A unique, readable name so tests sharing one server never touch each other's keys. */
export function uniqueName(base: string): string {
  return `${base}-${randomBytes(4).toString('hex')}`;
}

/** Items pushed by callbacks (watch events, observer reports), taken in order with a bound. */
export class Inbox<T> {
  private readonly items: T[] = [];
  private waiters: Array<() => void> = [];

  push(item: T): void {
    this.items.push(item);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  get size(): number {
    return this.items.length;
  }

  all(): T[] {
    return [...this.items];
  }

  /** Resolves once `predicate` holds for the items received so far (bounded). */
  async until(predicate: (items: T[]) => boolean, ms: number, what: string): Promise<T[]> {
    const deadline = Date.now() + ms;
    while (!predicate(this.items)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; got ${this.items.length}: ${describe(this.items)}`);
      await within(new Promise<void>((resolve) => this.waiters.push(resolve)), left, what).catch((err: Error) => {
        throw new Error(`${err.message}; got ${this.items.length}: ${describe(this.items)}`);
      });
    }
    return [...this.items];
  }

  /** Resolves once at least `n` items arrived. */
  count(n: number, ms: number, what: string): Promise<T[]> {
    return this.until((items) => items.length >= n, ms, what);
  }
}

function describe(items: unknown[]): string {
  const text = JSON.stringify(items, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}
