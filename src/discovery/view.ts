// The watched view: one Range over WATCH_PREFIX, then a Watch from the Range's revision + 1, so
// every later change is seen exactly once and none between the two is lost.
//
// When the watch breaks in any way — the stream drops (coordinator restarted, network cut), the
// server cancels it (its start revision was compacted away), or an event cannot be applied — the
// view does not trust a resume: it drops the watcher, lists the prefix again (retrying with
// backoff until it succeeds) and reports the difference as up/updated/down changes, then watches
// from the new listing's revision + 1. A resume from the last revision would usually work, but a
// re-list also covers a store that was compacted, restored or replaced meanwhile, and costs one
// Range per outage. Meanwhile readers keep the last known state: a stale view beats an empty one.
import type { Etcd3, IEvent, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { prefixEnd } from '../recipes/index.js';
import type { InstanceRecord, ServiceView, ViewChange } from './types.js';
import { WATCH_PREFIX } from './keys.js';
import { ViewState, type StoreEntry, type StoreEvent } from './view-state.js';

export interface WatchViewOptions {
  /** First delay before re-listing after the watch broke, doubled per failed attempt. Default 100 ms. */
  relistBackoffMs?: number;
  /** Cap of that delay. Default 2000 ms. */
  maxRelistBackoffMs?: number;
}

/** The view as discovery hands it out: the contract plus what operators and tests observe. */
export interface WatchedServiceView extends ServiceView {
  /** Store revision the view reflects. */
  revision(): bigint;
  /** How many times the view re-listed after its watch broke. */
  relists(): number;
  /** Called when an ejection starts or ends (`ejected` false: the instance is offered again). */
  onEjection(listener: (instanceId: string, ejected: boolean) => void): () => void;
}

export async function startView(client: Etcd3, logger: Logger, opts: WatchViewOptions = {}): Promise<WatchedServiceView> {
  const view = new WatchedView(client, logger, opts);
  await view.list();
  view.watchFrom(view.revision() + 1n);
  return view;
}

class WatchedView implements WatchedServiceView {
  private readonly state: ViewState;
  private readonly listeners = new Set<(change: ViewChange) => void>();
  private readonly ejectionListeners = new Set<(instanceId: string, ejected: boolean) => void>();
  private watcher: Watcher | undefined;
  /** Bumped whenever a watcher is dropped, so its late events are ignored. */
  private generation = 0;
  private relistCount = 0;
  private relistTimer: NodeJS.Timeout | undefined;
  private ejectionTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly relistBackoffMs: number;
  private readonly maxRelistBackoffMs: number;

  constructor(private readonly client: Etcd3, private readonly logger: Logger, opts: WatchViewOptions) {
    this.state = new ViewState((message, fields) => this.logger.warn(fields, message));
    this.relistBackoffMs = opts.relistBackoffMs ?? 100;
    this.maxRelistBackoffMs = opts.maxRelistBackoffMs ?? 2000;
  }

  instances(service: string, version?: string): readonly InstanceRecord[] {
    return this.state.instances(service, version);
  }

  subscribers(event: string): readonly InstanceRecord[] {
    return this.state.subscribers(event);
  }

  all(): readonly InstanceRecord[] {
    return this.state.all();
  }

  get(instanceId: string): InstanceRecord | undefined {
    return this.state.get(instanceId);
  }

  revision(): bigint {
    return this.state.revision;
  }

  relists(): number {
    return this.relistCount;
  }

  eject(instanceId: string, untilMs: number): void {
    const now = Date.now();
    if (!this.state.eject(instanceId, untilMs, now)) return;
    this.armEjectionTimer();
    this.notifyEjection(instanceId, untilMs > now);
  }

  onChange(listener: (change: ViewChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onEjection(listener: (instanceId: string, ejected: boolean) => void): () => void {
    this.ejectionListeners.add(listener);
    return () => this.ejectionListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.relistTimer);
    clearTimeout(this.ejectionTimer);
    this.listeners.clear();
    this.ejectionListeners.clear();
    const watcher = this.dropWatcher();
    // A cancel waits for the server's confirmation; a closed client never gives it.
    await watcher?.cancel().catch(() => undefined);
  }

  /** @internal Lists the prefix and replaces the state with it (rejects if the Range fails). */
  async list(): Promise<void> {
    const res = await this.client.kv.range({ key: Buffer.from(WATCH_PREFIX), range_end: prefixEnd(WATCH_PREFIX) });
    if (this.closed) return;
    const entries: StoreEntry[] = res.kvs.map((kv) => ({
      key: kv.key.toString(),
      value: kv.value.toString(),
      lease: String(kv.lease),
      modRevision: BigInt(kv.mod_revision),
    }));
    this.emit(this.state.reload(entries, BigInt(res.header.revision)));
  }

  /** @internal */
  watchFrom(start: bigint): void {
    if (this.closed) return;
    const generation = ++this.generation;
    const watcher = this.client.watch().prefix(WATCH_PREFIX).startRevision(String(start)).watcher();
    this.watcher = watcher;
    watcher.on('data', (res: IWatchResponse) => {
      if (generation !== this.generation || res.events.length === 0) return;
      let changes: ViewChange[];
      try {
        changes = this.state.applyEvents(res.events.map(toStoreEvent));
      } catch (err) {
        this.broken(generation, 'an event could not be applied', err, true);
        return;
      }
      this.emit(changes);
    });
    // The client would re-attach by itself after a drop; the view re-lists instead (see the top).
    watcher.on('disconnected', (err: unknown) => this.broken(generation, 'the watch stream dropped', err, true));
    watcher.on('error', (err: unknown) => this.broken(generation, 'the server cancelled the watch', err, false));
  }

  private broken(generation: number, why: string, err: unknown, detach: boolean): void {
    if (generation !== this.generation || this.closed) return;
    this.logger.info({ err: String(err), revision: String(this.state.revision) }, `discovery: ${why}; re-listing`);
    const watcher = this.dropWatcher();
    // After 'disconnected' the client's watch stream is idle, so the cancel only unhooks the
    // watcher locally (else the client would re-attach it); a watcher the server cancelled is
    // already unhooked, and cancelling it again would wait for an answer that never comes.
    if (detach) void watcher?.cancel().catch(() => undefined);
    this.scheduleRelist(0);
  }

  private dropWatcher(): Watcher | undefined {
    this.generation++;
    const watcher = this.watcher;
    this.watcher = undefined;
    watcher?.removeAllListeners('data');
    return watcher;
  }

  private scheduleRelist(attempt: number): void {
    if (this.closed) return;
    const ceiling = Math.min(this.maxRelistBackoffMs, this.relistBackoffMs * 2 ** attempt);
    // Full jitter: views of many processes that lost the same coordinator do not re-list in step.
    const delay = attempt === 0 ? 0 : Math.random() * ceiling;
    this.relistTimer = setTimeout(() => {
      this.relistTimer = undefined;
      this.list().then(
        () => {
          if (this.closed) return;
          this.relistCount++;
          this.watchFrom(this.state.revision + 1n);
        },
        (err: unknown) => {
          this.logger.warn({ err: String(err), attempt: attempt + 1 }, 'discovery: re-list failed; retrying');
          this.scheduleRelist(attempt + 1);
        },
      );
    }, delay);
    this.relistTimer.unref();
  }

  private armEjectionTimer(): void {
    clearTimeout(this.ejectionTimer);
    this.ejectionTimer = undefined;
    const next = this.state.nextEjectionEnd();
    if (next === undefined || this.closed) return;
    // setTimeout caps at 2^31-1 ms; a longer ejection just re-arms.
    const delay = Math.min(Math.max(0, next - Date.now()), 2 ** 31 - 1);
    this.ejectionTimer = setTimeout(() => {
      for (const id of this.state.expireEjections(Date.now())) this.notifyEjection(id, false);
      this.armEjectionTimer();
    }, delay);
    this.ejectionTimer.unref();
  }

  private emit(changes: readonly ViewChange[]): void {
    for (const change of changes) {
      for (const listener of this.listeners) {
        try {
          listener(change);
        } catch (err) {
          this.logger.error({ err }, 'discovery: a view listener threw');
        }
      }
    }
  }

  private notifyEjection(instanceId: string, ejected: boolean): void {
    for (const listener of this.ejectionListeners) {
      try {
        listener(instanceId, ejected);
      } catch (err) {
        this.logger.error({ err }, 'discovery: an ejection listener threw');
      }
    }
  }
}

function toStoreEvent(ev: IEvent): StoreEvent {
  return {
    type: ev.type === 'Put' ? 'put' : 'delete',
    key: ev.kv.key.toString(),
    value: ev.type === 'Put' ? ev.kv.value.toString() : '',
    lease: String(ev.kv.lease),
    modRevision: BigInt(ev.kv.mod_revision),
  };
}
