// A watch that resumes exactly where its events left off.
//
// etcd3's Watcher resumes after a dropped stream from the header revision of the last response
// plus one. While a watcher is catching up on history, etcd sends batches whose header revision is
// the *current* store revision, so resuming from it would skip the rest of the history. Here the
// resume point is the revision of the last event delivered plus one, set on the watcher each time
// it disconnects, before etcd3 re-attaches it.
import type { Etcd3, IEvent, IWatchResponse, Watcher } from 'etcd3';

export interface WatchSpec {
  /** A single key, or with `prefix: true` every key starting with it. */
  key: string;
  prefix?: boolean;
  /** First revision to deliver. */
  startRevision: bigint;
  prevKv?: boolean;
  /** Deliver only these kinds of events. */
  only?: 'put' | 'delete';
}

export interface WatchHandlers {
  /** Events of one response, in revision order. Called sequentially. */
  onEvents(events: IEvent[]): void;
  /** The server cancelled the watch (e.g. its start revision was compacted). The watch is over. */
  onCancelled(err: Error): void;
}

export interface ResumableWatch {
  /** Revision of the next event to deliver. */
  nextRevision(): bigint;
  cancel(): Promise<void>;
}

export async function watchFrom(
  client: Etcd3,
  spec: WatchSpec,
  handlers: WatchHandlers,
  signal?: AbortSignal,
): Promise<ResumableWatch> {
  signal?.throwIfAborted();
  let next = spec.startRevision;
  let cancelled = false;
  let builder = client.watch();
  builder = spec.prefix ? builder.prefix(spec.key) : builder.key(spec.key);
  builder = builder.startRevision(String(spec.startRevision));
  if (spec.prevKv) builder = builder.withPreviousKV();
  if (spec.only) builder = builder.only(spec.only);
  const watcher: Watcher = builder.watcher();
  const handle: ResumableWatch = {
    nextRevision: () => next,
    cancel: async () => {
      if (cancelled) return;
      cancelled = true;
      await watcher.cancel();
    },
  };
  watcher.on('data', (res: IWatchResponse) => {
    if (cancelled || res.events.length === 0) return;
    const last = res.events[res.events.length - 1]!;
    next = BigInt(last.kv.mod_revision) + 1n;
    handlers.onEvents(res.events);
  });
  watcher.on('disconnected', () => {
    watcher.request.start_revision = String(next);
  });
  const created = new Promise<void>((resolve, reject) => {
    watcher.once('connected', () => resolve());
    watcher.on('error', (err: Error) => {
      if (cancelled) return;
      cancelled = true;
      reject(err);
      handlers.onCancelled(err);
    });
    signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
  try {
    await created;
  } catch (err) {
    await handle.cancel().catch(() => undefined);
    throw err;
  }
  return handle;
}

/** Resolves with the first event matching `spec` (or rejects on abort or server cancellation). */
export async function firstEvent(client: Etcd3, spec: WatchSpec, signal: AbortSignal): Promise<IEvent> {
  let settle!: { resolve: (ev: IEvent) => void; reject: (err: unknown) => void };
  const result = new Promise<IEvent>((resolve, reject) => { settle = { resolve, reject }; });
  result.catch(() => undefined); // may settle while the watch is still being created; awaited below
  const onAbort = (): void => settle.reject(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  let watch: ResumableWatch | undefined;
  try {
    watch = await watchFrom(client, spec, {
      onEvents: (events) => settle.resolve(events[0]!),
      onCancelled: (err) => settle.reject(err),
    }, signal);
    return await result;
  } finally {
    signal.removeEventListener('abort', onAbort);
    await watch?.cancel().catch(() => undefined);
  }
}
