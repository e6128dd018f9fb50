// Storing an event in the runtime's outbox (`shoal_outbox`, created by host.useDatabase) from
// inside a synchronous ServiceDb transaction. ctx.emit({ trx }) takes a kysely transaction and
// awaits; a BEGIN IMMEDIATE transaction run synchronously (and a saga's onFinished callback,
// which runs inside the orchestrator's) cannot await. The row comes from the runtime's outboxRow;
// the dispatcher finds it at its next poll (≤ 250 ms by default).
import type { Kysely } from 'kysely';
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
  q.run(k.insertInto('shoal_outbox').values(row));
  return row.id;
}
