// Key layout of discovery (DESIGN.md 3.2) plus one key of our own per instance, the lease witness.
//
//   /shoal/services/<service>/<version>/<id>         the InstanceRecord (JSON), under the instance's lease
//   /shoal/service-leases/<service>/<version>/<id>   "live" or "deregistered", under the same lease
//
// The witness lets a watcher tell why a record went (see view-state.ts): it is written with the
// record in one txn, so a lease expiry deletes both in one revision; the owner's deregistration
// first rewrites it to "deregistered" in the txn that deletes the record. Both roots start with
// WATCH_PREFIX, so one Range and one Watch cover them; nothing else in the layout does.
export const SERVICES_ROOT = '/shoal/services/';
export const WITNESS_ROOT = '/shoal/service-leases/';
export const WATCH_PREFIX = '/shoal/service';

export const WITNESS_LIVE = 'live';
export const WITNESS_DEREGISTERED = 'deregistered';

/** Lowercase letters, digits and `-`, starting with a letter or digit: also a DNS label. */
export const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Semver-like. */
export const VERSION = /^[0-9A-Za-z.+-]{1,64}$/;
/** One DNS label (the DNS interface answers `<id>.shoal.`), so no dots. */
export const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export interface InstanceKey {
  readonly service: string;
  readonly version: string;
  readonly id: string;
}

export function recordKey(k: InstanceKey): string {
  return `${SERVICES_ROOT}${k.service}/${k.version}/${k.id}`;
}

export function witnessKey(k: InstanceKey): string {
  return `${WITNESS_ROOT}${k.service}/${k.version}/${k.id}`;
}

export type ParsedKey =
  | { readonly kind: 'record'; readonly path: string; readonly key: InstanceKey }
  | { readonly kind: 'witness'; readonly path: string; readonly key: InstanceKey };

/**
 * Classifies a key under WATCH_PREFIX. `path` is `<service>/<version>/<id>`, shared by an
 * instance's record and its witness. Anything else (a foreign key, a bad segment) is undefined.
 */
export function parseKey(key: string): ParsedKey | undefined {
  let kind: 'record' | 'witness';
  let path: string;
  if (key.startsWith(SERVICES_ROOT)) {
    kind = 'record';
    path = key.slice(SERVICES_ROOT.length);
  } else if (key.startsWith(WITNESS_ROOT)) {
    kind = 'witness';
    path = key.slice(WITNESS_ROOT.length);
  } else {
    return undefined;
  }
  const parts = path.split('/');
  if (parts.length !== 3) return undefined;
  const [service, version, id] = parts as [string, string, string];
  if (!SERVICE_NAME.test(service) || !VERSION.test(version) || !INSTANCE_ID.test(id)) return undefined;
  return { kind, path, key: { service, version, id } };
}

export function invariant(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(`discovery invariant violated: ${message}`);
}
