// The view's state, without I/O: what the store holds under WATCH_PREFIX, applied one revision at
// a time (from a watch) or replaced wholesale (from a Range), plus the read caches and ejections.
// Time comes in as arguments, so the watching shell (view.ts) and tests drive it alike.
//
// Why an instance went ('down' reason), decided per revision with the lease witness (keys.ts):
//   - its witness reads "deregistered" (written in the same txn that deleted the record):
//     'deregistered' — the owner removed it;
//   - its witness was deleted in the same revision as the record: the lease went (expired, or
//     revoked by someone other than a deregistering owner): 'lease-expired';
//   - otherwise (a DeleteRange by someone else, a record without a witness): 'deleted'.
// A lease revocation deletes all its keys in one revision (etcd and Shoal's coordinator alike),
// and the events of one revision are applied together, so the order of keys inside it does not
// matter. After a re-list only the current store is known: an instance that went meanwhile is
// 'deregistered' if its witness still says so, otherwise 'deleted' (a deregistration completes by
// revoking the lease, which removes the witness too, so absence alone proves nothing).
import type { InstanceRecord, ViewChange } from './types.js';
import { invariant, parseKey, WITNESS_DEREGISTERED } from './keys.js';
import { parseStoredRecord } from './record.js';

/** One key change of the store, as a watch delivers it (deletes carry no value). */
export interface StoreEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: string;
  /** Decimal lease id; '0' when none. */
  readonly lease: string;
  readonly modRevision: bigint;
}

/** One key as a Range returns it. */
export interface StoreEntry {
  readonly key: string;
  readonly value: string;
  readonly lease: string;
  readonly modRevision: bigint;
}

interface Stored {
  readonly record: InstanceRecord;
  /** The raw value: a rewrite with identical bytes (lease moved, a repeated write) is no change. */
  readonly value: string;
  readonly lease: string;
}

export type Warn = (message: string, fields: Record<string, unknown>) => void;

const EMPTY: readonly InstanceRecord[] = Object.freeze([]);

export class ViewState {
  /** By path `<service>/<version>/<id>`. */
  private records = new Map<string, Stored>();
  private witnesses = new Map<string, string>();
  private readonly ejected = new Map<string, number>();
  /** Revision of the store this state reflects. */
  revision = 0n;
  /** Revision of the last full listing: watch events up to it are already in. */
  private listedAt = 0n;

  // Read caches: rebuilt after each change, shared by every reader until the next one.
  private byService = new Map<string, readonly InstanceRecord[]>();
  private byServiceVersion = new Map<string, Map<string, readonly InstanceRecord[]>>();
  private byEvent = new Map<string, readonly InstanceRecord[]>();
  private byId = new Map<string, InstanceRecord>();
  private everything: readonly InstanceRecord[] = EMPTY;

  constructor(private readonly warn: Warn) {}

  instances(service: string, version?: string): readonly InstanceRecord[] {
    if (version === undefined) return this.byService.get(service) ?? EMPTY;
    return this.byServiceVersion.get(service)?.get(version) ?? EMPTY;
  }

  subscribers(event: string): readonly InstanceRecord[] {
    return this.byEvent.get(event) ?? EMPTY;
  }

  all(): readonly InstanceRecord[] {
    return this.everything;
  }

  get(instanceId: string): InstanceRecord | undefined {
    return this.byId.get(instanceId);
  }

  isEjected(instanceId: string): boolean {
    return this.ejected.has(instanceId);
  }

  /** Applies the events of one watch response (revisions ascending); returns the changes in order. */
  applyEvents(events: readonly StoreEvent[]): ViewChange[] {
    const changes: ViewChange[] = [];
    let start = 0;
    while (start < events.length) {
      const revision = events[start]!.modRevision;
      let end = start + 1;
      while (end < events.length && events[end]!.modRevision === revision) end++;
      invariant(end === events.length || events[end]!.modRevision > revision, 'watch events arrive in revision order');
      invariant(revision >= this.revision, `watch event at revision ${revision} after revision ${this.revision}`);
      // A watch starts at the listing's revision + 1; anything not after it is already in.
      if (revision > this.listedAt) {
        this.applyRevision(events.slice(start, end), changes);
        this.revision = revision;
      }
      start = end;
    }
    if (changes.length > 0) this.rebuild();
    return changes;
  }

  /** Replaces the state with a full listing taken at `revision`; returns the difference as changes. */
  reload(entries: readonly StoreEntry[], revision: bigint): ViewChange[] {
    const records = new Map<string, Stored>();
    const witnesses = new Map<string, string>();
    for (const e of entries) {
      const parsed = parseKey(e.key);
      if (!parsed) continue;
      if (parsed.kind === 'witness') {
        witnesses.set(parsed.path, e.value);
        continue;
      }
      const stored = this.parse(e.key, parsed.key, e.value, e.lease);
      if (stored) records.set(parsed.path, stored);
    }
    const changes: ViewChange[] = [];
    for (const [path, old] of this.records) {
      if (records.has(path)) continue;
      const reason = witnesses.get(path) === WITNESS_DEREGISTERED ? 'deregistered' : 'deleted';
      changes.push({ type: 'down', instance: old.record, reason });
    }
    for (const [path, now] of records) {
      const old = this.records.get(path);
      if (!old) changes.push({ type: 'up', instance: now.record });
      else if (old.value !== now.value) changes.push({ type: 'updated', instance: now.record });
    }
    this.records = records;
    this.witnesses = witnesses;
    this.revision = revision;
    this.listedAt = revision;
    this.rebuild();
    return changes;
  }

  /**
   * Keeps an instance out of instances()/subscribers() until `untilMs`; a time not after `nowMs`
   * lifts an ejection. Returns true if what readers see changed.
   */
  eject(instanceId: string, untilMs: number, nowMs: number): boolean {
    if (typeof instanceId !== 'string') throw new TypeError('eject: instanceId must be a string');
    if (!Number.isFinite(untilMs)) throw new TypeError(`eject: untilMs must be a finite time, got ${untilMs}`);
    const was = this.ejected.has(instanceId);
    if (untilMs <= nowMs) {
      if (!was) return false;
      this.ejected.delete(instanceId);
    } else {
      this.ejected.set(instanceId, untilMs);
      if (was) return false;
    }
    this.rebuild();
    return true;
  }

  /** Lifts every ejection due by `nowMs`; returns the ids restored. */
  expireEjections(nowMs: number): string[] {
    const restored: string[] = [];
    for (const [id, until] of this.ejected) {
      if (until <= nowMs) {
        this.ejected.delete(id);
        restored.push(id);
      }
    }
    if (restored.length > 0) this.rebuild();
    return restored;
  }

  /** The earliest time an ejection ends, or undefined. */
  nextEjectionEnd(): number | undefined {
    let next: number | undefined;
    for (const until of this.ejected.values()) if (next === undefined || until < next) next = until;
    return next;
  }

  private applyRevision(events: readonly StoreEvent[], changes: ViewChange[]): void {
    // Witness changes first: a "deregistered" written in this revision, or a witness deleted with
    // its record, decides the record's down reason regardless of key order inside the revision.
    const witnessGone = new Set<string>();
    for (const ev of events) {
      const parsed = parseKey(ev.key);
      if (parsed?.kind !== 'witness') continue;
      if (ev.type === 'put') this.witnesses.set(parsed.path, ev.value);
      else witnessGone.add(parsed.path);
    }
    for (const ev of events) {
      const parsed = parseKey(ev.key);
      if (parsed?.kind !== 'record') continue;
      const old = this.records.get(parsed.path);
      if (ev.type === 'delete') {
        if (!old) continue;
        this.records.delete(parsed.path);
        const reason = this.witnesses.get(parsed.path) === WITNESS_DEREGISTERED ? 'deregistered'
          : witnessGone.has(parsed.path) ? 'lease-expired' : 'deleted';
        changes.push({ type: 'down', instance: old.record, reason });
        continue;
      }
      if (old && old.value === ev.value) {
        this.records.set(parsed.path, { ...old, lease: ev.lease });
        continue;
      }
      const stored = this.parse(ev.key, parsed.key, ev.value, ev.lease);
      if (stored) {
        this.records.set(parsed.path, stored);
        changes.push({ type: old ? 'updated' : 'up', instance: stored.record });
      } else if (old) {
        // The store no longer holds a usable record for it: callers must not be sent there.
        this.records.delete(parsed.path);
        changes.push({ type: 'down', instance: old.record, reason: 'deleted' });
      }
    }
    for (const path of witnessGone) this.witnesses.delete(path);
  }

  private parse(key: string, k: { service: string; version: string; id: string }, value: string, lease: string): Stored | undefined {
    const res = parseStoredRecord(value);
    if (!res.ok) {
      this.warn('discovery: skipping a malformed instance record', { key, error: res.error });
      return undefined;
    }
    const r = res.record;
    if (r.service !== k.service || r.version !== k.version || r.id !== k.id) {
      this.warn('discovery: skipping an instance record stored under another instance\'s key', {
        key, service: r.service, version: r.version, id: r.id,
      });
      return undefined;
    }
    return { record: r, value, lease };
  }

  private rebuild(): void {
    const all = [...this.records.values()].map((s) => s.record).sort(compareRecords);
    const byId = new Map<string, InstanceRecord>();
    const byService = new Map<string, InstanceRecord[]>();
    const byServiceVersion = new Map<string, Map<string, InstanceRecord[]>>();
    const byEvent = new Map<string, InstanceRecord[]>();
    for (const r of all) {
      const other = byId.get(r.id);
      if (other) this.warn('discovery: two records share an instance id; get() returns the first', { id: r.id, first: `${other.service}/${other.version}`, second: `${r.service}/${r.version}` });
      else byId.set(r.id, r);
      if (!r.ready || this.ejected.has(r.id)) continue;
      push(byService, r.service, r);
      let versions = byServiceVersion.get(r.service);
      if (!versions) byServiceVersion.set(r.service, (versions = new Map()));
      push(versions, r.version, r);
      for (const event of new Set(r.events)) push(byEvent, event, r);
    }
    this.everything = Object.freeze(all);
    this.byId = byId;
    this.byService = freezeValues(byService);
    this.byServiceVersion = new Map([...byServiceVersion].map(([s, m]) => [s, freezeValues(m)]));
    this.byEvent = freezeValues(byEvent);
  }
}

/** Sorted by id (balance strategies rely on a stable order), then service and version. */
function compareRecords(a: InstanceRecord, b: InstanceRecord): number {
  return cmp(a.id, b.id) || cmp(a.service, b.service) || cmp(a.version, b.version);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function push<K>(m: Map<K, InstanceRecord[]>, k: K, r: InstanceRecord): void {
  const list = m.get(k);
  if (list) list.push(r);
  else m.set(k, [r]);
}

function freezeValues<K>(m: Map<K, InstanceRecord[]>): Map<K, readonly InstanceRecord[]> {
  for (const list of m.values()) Object.freeze(list);
  return m;
}
