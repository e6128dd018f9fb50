// Storing an event in the runtime's outbox (`shoal_outbox`, created by host.useDatabase) from
// inside a synchronous ServiceDb transaction. ctx.emit({ trx }) takes a kysely transaction and
// awaits; a BEGIN IMMEDIATE transaction run synchronously (and a saga's onFinished callback,
// which runs inside the orchestrator's) cannot await. The row is the one the runtime's
// enqueueEvent writes; the dispatcher finds it at its next poll (≤ 250 ms by default).
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { ShoalEventTables } from '../../index.js';
import type { SyncQueries } from './sqlite.js';

// The runtime's rule for event names (src/runtime/names.ts): `<service>.<name>`.
const EVENT_NAME = /^[a-z][a-z0-9-]*(\.[A-Za-z0-9_-]+)+$/;

/** Returns the event's id. */
export function enqueueEventIn(
  q: SyncQueries,
  k: Kysely<ShoalEventTables>,
  event: string,
  payload: unknown,
  now: number,
  meta?: Record<string, unknown>,
): string {
  if (!EVENT_NAME.test(event)) throw new TypeError(`"${event}" is not an event name`);
  const id = randomUUID();
  q.run(
    k.insertInto('shoal_outbox').values({
      id,
      event,
      payload: JSON.stringify(payload === undefined ? null : payload),
      meta: meta === undefined || Object.keys(meta).length === 0 ? null : JSON.stringify(meta),
      created_at: now,
      attempts: 0,
      next_attempt_at: now,
      delivered_at: null,
      targets: null,
      acked: '[]',
    }),
  );
  return id;
}
