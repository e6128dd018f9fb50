import type { WatchEvent } from '../types.js';

/** etcd's WatchCreateRequest.FilterType: drop PUT or DELETE events. */
export type WatchFilter = 'NOPUT' | 'NODELETE';

export interface WatchRequest {
  key: Buffer;
  /** As in Range: empty = just `key`, "\0" = every key >= key, else [key, rangeEnd). */
  rangeEnd?: Buffer;
  /** 0 (default): from the next revision. A past revision replays history from there. */
  startRevision?: number;
  prevKv?: boolean;
  filters?: WatchFilter[];
  /** Receive periodic progress notifications (when the host calls `progress()`). */
  progressNotify?: boolean;
}

/**
 * What a watch sends, in order: `created` first, then `events` / `progress`, and `canceled` last.
 * A message's `revision` is etcd's header revision.
 */
export type WatchMessage =
  | { kind: 'created'; watchId: number; revision: number }
  /** Whole revisions, ascending: a revision's events are never split across messages. */
  | { kind: 'events'; watchId: number; revision: number; events: WatchEvent[] }
  /** Every event up to `revision` has been delivered. */
  | { kind: 'progress'; watchId: number; revision: number }
  /** `compactRevision` > 0 when history the watch needed was compacted (etcd's compact cancel). */
  | { kind: 'canceled'; watchId: number; revision: number; compactRevision: number; reason: string };

/**
 * Delivers one message. For `events`, returning false refuses the batch (backpressure): it is
 * not delivered, the watch falls behind ("unsynced") and is replayed from history by
 * `WatchHub.catchUp()`. A refused `progress` is just skipped. `created` and `canceled` must be
 * accepted (the host queues them; there is one of each per watch).
 */
export type WatchSink = (message: WatchMessage) => boolean;
