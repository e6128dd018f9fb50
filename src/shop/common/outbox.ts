// Storing an event in the runtime's outbox (`shoal_outbox`, created by host.useDatabase) from
// inside a synchronous ServiceDb transaction. ctx.emit({ trx }) takes a kysely transaction and
// awaits; a BEGIN IMMEDIATE transaction run synchronously (and a saga's onFinished callback,
// which runs inside the orchestrator's) cannot await. The row comes from the runtime's outboxRow;
// the dispatcher finds it at its next poll (≤ 250 ms by default).
import type { Kysely } from 'kysely';
import { perKysely, prepare } from './prepared.js';
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
  q.run(outboxInsert(k)(...OUTBOX_COLUMNS.map((c) => row[c])));
  return row.id;
}

/** The columns of an outbox row, in the order the prepared insert takes them. */
const OUTBOX_COLUMNS = Object.keys(outboxRow('shop.columns', null, undefined, 0)) as (keyof ReturnType<typeof outboxRow>)[];

/** The outbox insert, compiled once per handle. */
const outboxInsert = perKysely((k: Kysely<ShoalEventTables>) =>
  prepare(OUTBOX_COLUMNS.length, (...values: unknown[]) =>
    k.insertInto('shoal_outbox').values(Object.fromEntries(OUTBOX_COLUMNS.map((c, i) => [c, values[i]])) as never),
  ),
);
