// Hot queries built and compiled by kysely once, then run with new values: building and
// compiling a query costs tens of µs each time, more than SQLite spends running it.
import type { Compilable, CompiledQuery, QueryId, RootOperationNode } from 'kysely';

const SENTINEL = '\u0000shoal-prepared-arg:';

/** A compiled query bound to values: runs through SyncQueries (compile()) or kysely.executeQuery. */
class Bound<R> implements CompiledQuery<R>, Compilable<R> {
  constructor(
    readonly sql: string,
    readonly query: RootOperationNode,
    readonly queryId: QueryId,
    readonly parameters: readonly unknown[],
  ) {}

  compile(): CompiledQuery<R> {
    return this;
  }
}

/**
 * `build` is called once with a placeholder per argument; each call of the result gives the
 * compiled query with the placeholders' parameters replaced by its arguments (the constants the
 * query itself holds stay). Every argument must reach the query as a bound parameter, which is
 * checked here: one folded into the SQL text or dropped would make the result wrong.
 */
export function prepare<A extends unknown[], R>(arity: A['length'], build: (...args: A) => Compilable<R>): (...args: A) => Bound<R> {
  const placeholders = Array.from({ length: arity }, (_, i) => `${SENTINEL}${i}`) as unknown as A;
  const compiled = build(...placeholders).compile();
  if (compiled.sql.includes(SENTINEL)) throw new Error(`invariant: a prepared argument was written into the SQL: ${compiled.sql}`);
  /** Per parameter: the argument it takes, or -1 for a constant of the query. */
  const slots = compiled.parameters.map((p) => (typeof p === 'string' && p.startsWith(SENTINEL) ? Number(p.slice(SENTINEL.length)) : -1));
  for (let i = 0; i < arity; i++) if (!slots.includes(i)) throw new Error(`invariant: prepared argument ${i} is not a parameter of ${compiled.sql}`);
  const constants = compiled.parameters;
  const { sql, query, queryId } = compiled;
  return (...args: A): Bound<R> => {
    const parameters = new Array<unknown>(slots.length);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      parameters[i] = slot === -1 ? constants[i] : args[slot];
    }
    return new Bound<R>(sql, query, queryId, parameters);
  };
}

/** One set of prepared queries per kysely instance (a store's handle), made on first use. */
export function perKysely<K extends object, S>(make: (k: K) => S): (k: K) => S {
  const cache = new WeakMap<K, S>();
  return (k) => {
    let s = cache.get(k);
    if (s === undefined) cache.set(k, (s = make(k)));
    return s;
  };
}
