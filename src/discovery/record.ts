// InstanceRecord validation at the two boundaries: what a caller registers (strict: unknown fields
// and bad values are a TypeError naming the field) and what the store holds (lenient about extra
// fields a newer writer may add; anything else invalid is skipped by the view, never applied).
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { InstanceRecord } from './types.js';
import { INSTANCE_ID, SERVICE_NAME, VERSION } from './keys.js';

/** What `register` takes: the record, with defaults for everything a process knows about itself. */
export type RegisterInput = Pick<InstanceRecord, 'service' | 'version' | 'urls'>
  & Partial<Omit<InstanceRecord, 'service' | 'version' | 'urls'>>;

/** A URL an instance can be reached at: parses, has a host, and a port (explicit or the scheme's default). */
const endpointUrl = z.string().max(2048).refine((s) => {
  try {
    const u = new URL(s);
    return u.hostname !== '' && (u.port !== '' || u.protocol === 'http:' || u.protocol === 'https:');
  } catch {
    return false;
  }
}, { message: 'must be an absolute URL with a host and a port, e.g. shoal+tcp://127.0.0.1:4711' });

const adminUrl = z.string().max(2048).refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}, { message: 'must be an http(s) URL' });

/** `service.action` / `topic.event`: no whitespace, at least one dot. */
const qualifiedName = z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/, 'must be a dotted name like goods.get');

const fields = {
  id: z.string().regex(INSTANCE_ID, 'must be 1-63 of [A-Za-z0-9_-], starting with a letter or digit'),
  service: z.string().regex(SERVICE_NAME, 'must be 1-63 of [a-z0-9-], starting with a letter or digit'),
  version: z.string().regex(VERSION, 'must be 1-64 of [0-9A-Za-z.+-]'),
  urls: z.array(endpointUrl).min(1, 'needs at least one URL').max(16),
  adminUrl: adminUrl.optional(),
  host: z.string().min(1).max(255),
  pid: z.int().positive(),
  actions: z.array(qualifiedName).max(10_000),
  events: z.array(qualifiedName).max(10_000),
  weight: z.number().positive().max(1_000_000).optional(),
  metadata: z.record(z.string().max(256), z.string().max(4096)),
  ready: z.boolean(),
  startedAt: z.iso.datetime({ offset: true }),
};

const strictRecord = z.strictObject(fields);
const storedRecord = z.object(fields);

const patchSchema = z.strictObject({
  ready: fields.ready.optional(),
  weight: fields.weight,
  metadata: fields.metadata.optional(),
});

export type RecordPatch = Partial<Pick<InstanceRecord, 'ready' | 'weight' | 'metadata'>>;

/** Fills the defaults (id, host, pid, ready: true, startedAt: now, …) and validates; TypeError on bad input. */
export function completeRecord(input: RegisterInput, now: Date = new Date()): InstanceRecord {
  if (typeof input !== 'object' || input === null) throw new TypeError('register: the record must be an object');
  const candidate = {
    ...input,
    id: input.id ?? `${typeof input.service === 'string' ? input.service : 'instance'}-${randomBytes(4).toString('hex')}`,
    host: input.host ?? hostname(),
    pid: input.pid ?? process.pid,
    actions: input.actions ?? [],
    events: input.events ?? [],
    metadata: input.metadata ?? {},
    ready: input.ready ?? true,
    startedAt: input.startedAt ?? now.toISOString(),
  };
  return validateRecord(candidate);
}

/** A complete record, validated strictly (for writes). */
export function validateRecord(candidate: unknown): InstanceRecord {
  const res = strictRecord.safeParse(candidate);
  if (!res.success) throw new TypeError(`invalid instance record: ${z.prettifyError(res.error)}`);
  return freezeRecord(dropUndefined(res.data) as InstanceRecord);
}

export function validatePatch(patch: unknown): RecordPatch {
  const res = patchSchema.safeParse(patch);
  if (!res.success) throw new TypeError(`invalid registration update: ${z.prettifyError(res.error)}`);
  return dropUndefined(res.data) as RecordPatch;
}

/** A value read from the store: the record, or why it is unusable. */
export function parseStoredRecord(value: string): { ok: true; record: InstanceRecord } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  const res = storedRecord.safeParse(json);
  if (!res.success) return { ok: false, error: z.prettifyError(res.error) };
  return { ok: true, record: freezeRecord(dropUndefined(res.data) as InstanceRecord) };
}

/** The canonical stored form (field order fixed, so equal records give equal bytes). */
export function encodeRecord(r: InstanceRecord): string {
  return JSON.stringify({
    id: r.id,
    service: r.service,
    version: r.version,
    urls: r.urls,
    ...(r.adminUrl !== undefined ? { adminUrl: r.adminUrl } : {}),
    host: r.host,
    pid: r.pid,
    actions: r.actions,
    events: r.events,
    ...(r.weight !== undefined ? { weight: r.weight } : {}),
    metadata: r.metadata,
    ready: r.ready,
    startedAt: r.startedAt,
  });
}

// Records are shared by every reader of the view (the same object in many cached arrays): frozen
// so one caller cannot change what another sees.
function freezeRecord(r: InstanceRecord): InstanceRecord {
  Object.freeze(r.urls);
  Object.freeze(r.actions);
  Object.freeze(r.events);
  Object.freeze(r.metadata);
  return Object.freeze(r);
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
