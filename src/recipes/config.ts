// Service configuration under /shoal/config/<service>/<path>, with watch and hot reload.
//
// A snapshot is one Range of the prefix; its header revision is the point in history it
// reflects. The watch starts at that revision + 1, so every later change is seen exactly once, in
// revision order, and none between the read and the watch is lost. Changes of one revision (one
// txn) are applied together. The typed value comes from the caller's `parse`; a change whose
// entries do not parse is reported to onError and the last good value stays in force.
import type { Etcd3, IEvent, IRequestOp } from 'etcd3';
import { configPrefix, prefixEnd } from './keys.js';
import { watchFrom, type ResumableWatch } from './watch.js';

/** Turns the raw entries (path relative to the service prefix → value) into a typed config; throws if invalid. */
export type ConfigParser<T> = (entries: ReadonlyMap<string, string>) => T;

export interface ConfigSnapshot<T> {
  readonly service: string;
  /** Store revision this snapshot reflects. */
  readonly revision: bigint;
  readonly entries: ReadonlyMap<string, string>;
  readonly value: T;
}

export interface ConfigEntryChange {
  type: 'put' | 'delete';
  /** Path relative to the service prefix, e.g. "http/timeoutMs". */
  path: string;
  value?: string;
  prevValue?: string;
}

export interface ConfigChange {
  revision: bigint;
  changes: ConfigEntryChange[];
  /** True when the change was computed by re-reading the whole prefix (history was compacted). */
  resync: boolean;
}

export type ConfigListener<T> = (snapshot: ConfigSnapshot<T>, change: ConfigChange) => void;
export type ConfigErrorListener = (err: unknown, change: ConfigChange | undefined) => void;

async function readEntries(client: Etcd3, service: string): Promise<{ entries: Map<string, string>; revision: bigint }> {
  const prefix = configPrefix(service);
  const res = await client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) });
  const entries = new Map<string, string>();
  for (const kv of res.kvs) entries.set(kv.key.toString().slice(prefix.length), kv.value.toString());
  return { entries, revision: BigInt(res.header.revision) };
}

export async function loadConfig<T>(client: Etcd3, service: string, parse: ConfigParser<T>): Promise<ConfigSnapshot<T>> {
  const { entries, revision } = await readEntries(client, service);
  return { service, revision, entries, value: parse(entries) };
}

/**
 * Writes entries atomically in one txn (null deletes the entry) and returns the revision.
 * Not retried on an unknown outcome (OutcomeUnknownError reaches the caller): writing the same
 * values again is harmless, but only the caller knows whether it still wants them.
 */
export async function writeConfig(client: Etcd3, service: string, entries: Record<string, string | null>): Promise<bigint> {
  const prefix = configPrefix(service);
  const ops: IRequestOp[] = Object.entries(entries).map(([path, value]) => {
    if (path === '' || path.startsWith('/')) throw new TypeError(`config path must be relative and non-empty, got ${JSON.stringify(path)}`);
    const key = Buffer.from(prefix + path);
    return value === null
      ? { request_delete_range: { key } }
      : { request_put: { key, value: Buffer.from(value) } };
  });
  if (ops.length === 0) throw new TypeError('writeConfig: no entries');
  const res = await client.kv.txn({ compare: [], success: ops, failure: [] });
  return BigInt(res.header.revision);
}

export interface WatchConfigOptions<T> {
  onChange?: ConfigListener<T>;
  onError?: ConfigErrorListener;
}

/** Loads a snapshot, then keeps it current. The first snapshot must parse (else this rejects). */
export async function watchConfig<T>(
  client: Etcd3,
  service: string,
  parse: ConfigParser<T>,
  opts: WatchConfigOptions<T> = {},
): Promise<ConfigWatcher<T>> {
  const initial = await loadConfig(client, service, parse);
  const watcher = new ConfigWatcher(client, service, parse, initial);
  if (opts.onChange) watcher.onChange(opts.onChange);
  if (opts.onError) watcher.onError(opts.onError);
  await watcher.follow(initial.revision + 1n);
  return watcher;
}

export class ConfigWatcher<T> {
  private snapshot: ConfigSnapshot<T>;
  /** What the store holds, parsed or not; `snapshot` is the last state that parsed. */
  private entries: Map<string, string>;
  private revision: bigint;
  private watch: ResumableWatch | undefined;
  private closed = false;
  private readonly listeners = new Set<ConfigListener<T>>();
  private readonly errorListeners = new Set<ConfigErrorListener>();

  constructor(
    private readonly client: Etcd3,
    readonly service: string,
    private readonly parse: ConfigParser<T>,
    initial: ConfigSnapshot<T>,
  ) {
    this.snapshot = initial;
    this.entries = new Map(initial.entries);
    this.revision = initial.revision;
  }

  /** The last configuration that parsed. */
  current(): ConfigSnapshot<T> {
    return this.snapshot;
  }

  onChange(listener: ConfigListener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onError(listener: ConfigErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.watch?.cancel();
  }

  /** @internal starts the watch at `from`. */
  async follow(from: bigint): Promise<void> {
    const prefix = configPrefix(this.service);
    this.watch = await watchFrom(this.client, { key: prefix, prefix: true, startRevision: from, prevKv: true }, {
      onEvents: (events) => this.applyEvents(prefix, events),
      onCancelled: (err) => void this.resync(err),
    });
  }

  private applyEvents(prefix: string, events: IEvent[]): void {
    let group: IEvent[] = [];
    for (const ev of events) {
      if (group.length > 0 && group[0]!.kv.mod_revision !== ev.kv.mod_revision) {
        this.applyRevision(prefix, group);
        group = [];
      }
      group.push(ev);
    }
    if (group.length > 0) this.applyRevision(prefix, group);
  }

  private applyRevision(prefix: string, events: IEvent[]): void {
    const revision = BigInt(events[0]!.kv.mod_revision);
    if (revision <= this.revision) {
      // The server broke watch ordering; that is its bug, reported rather than applied twice.
      this.reportError(new Error(`config ${this.service}: event at revision ${revision} is not after ${this.revision}`), undefined);
      return;
    }
    const changes: ConfigEntryChange[] = events.map((ev) => {
      const path = ev.kv.key.toString().slice(prefix.length);
      const prevValue = ev.prev_kv ? ev.prev_kv.value.toString() : this.entries.get(path);
      if (ev.type === 'Put') {
        const value = ev.kv.value.toString();
        this.entries.set(path, value);
        return prevValue === undefined ? { type: 'put', path, value } : { type: 'put', path, value, prevValue };
      }
      this.entries.delete(path);
      return prevValue === undefined ? { type: 'delete', path } : { type: 'delete', path, prevValue };
    });
    this.revision = revision;
    this.publish({ revision, changes, resync: false });
  }

  private publish(change: ConfigChange): void {
    if (this.closed) return;
    const entries = new Map(this.entries);
    let value: T;
    try {
      value = this.parse(entries);
    } catch (err) {
      this.reportError(err, change);
      return;
    }
    this.snapshot = { service: this.service, revision: change.revision, entries, value };
    for (const listener of this.listeners) {
      try {
        listener(this.snapshot, change);
      } catch (err) {
        this.reportError(err, change);
      }
    }
  }

  private reportError(err: unknown, change: ConfigChange | undefined): void {
    for (const listener of this.errorListeners) listener(err, change);
  }

  /** The watch was cancelled (its history compacted): read the prefix again and report the difference. */
  private async resync(cause: Error): Promise<void> {
    if (this.closed) return;
    try {
      const { entries, revision } = await readEntries(this.client, this.service);
      const changes: ConfigEntryChange[] = [];
      for (const [path, value] of entries) {
        const prevValue = this.entries.get(path);
        if (prevValue === undefined) changes.push({ type: 'put', path, value });
        else if (prevValue !== value) changes.push({ type: 'put', path, value, prevValue });
      }
      for (const [path, prevValue] of this.entries) if (!entries.has(path)) changes.push({ type: 'delete', path, prevValue });
      this.entries = entries;
      this.revision = revision;
      if (changes.length > 0) this.publish({ revision, changes, resync: true });
      await this.follow(revision + 1n);
    } catch (err) {
      this.reportError(new Error(`config ${this.service}: watch cancelled (${cause.message}) and re-reading failed`, { cause: err }), undefined);
    }
  }
}
