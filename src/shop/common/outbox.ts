// Storing an event in the runtime's outbox (`shoal_outbox`, created by host.useDatabase) from
// inside a synchronous ServiceDb transaction. ctx.emit({ trx }) takes a kysely transaction and
// awaits; a BEGIN IMMEDIATE transaction run synchronously (and a saga's onFinished callback,
// which runs inside the orchestrator's) cannot await. The row comes from the runtime's outboxRow;
// the dispatcher finds it at its next poll (≤ 250 ms by default).
import type { Compilable, Kysely } from 'kysely';
import { prepare } from './prepared.js';
import { outboxRow, type ShoalEventTables } from '../../index.js';
import type { SyncQueries } from './sqlite.js';

/** Returns the event's id. */
export function enqueueEventIn(
  q: SyncQueries,
  k: Kysely<ShoalEventTables>,
  event: string,
  payload: unknown,
  now: number,
  meta?: Record<string, unknown>,
): string {
  const row = outboxRow(event, payload, meta, now);
  // Compiled once per handle with the row's columns (outboxRow always gives the same ones).
  const columns = Object.keys(row) as (keyof typeof row)[];
  q.run(insertOf(k, columns)(...columns.map((c) => row[c])));
  return row.id;
}

const inserts = new WeakMap<object, { key: string; insert: (...values: unknown[]) => Compilable<unknown> }>();

function insertOf(k: Kysely<ShoalEventTables>, columns: readonly string[]): (...values: unknown[]) => Compilable<unknown> {
  const key = columns.join(',');
  const known = inserts.get(k);
  if (known !== undefined && known.key === key) return known.insert;
  const insert = prepare(columns.length, (...values: unknown[]) =>
    k.insertInto('shoal_outbox').values(Object.fromEntries(columns.map((c, i) => [c, values[i]])) as never),
  );
  inserts.set(k, { key, insert });
  return insert;
}
