// Watchers on a prefix during faults. Each watcher is a raw gRPC Watch stream that, after any
// error, cancel or end, opens a new stream on the next member from (last revision seen + 1).
// Writers put unique values, one attempt each. At the end (cluster recovered) every watcher must
// have seen exactly the prefix's history: the same revisions in order, no gap, no duplicate,
// with each acknowledged put at its acknowledged revision and no value nobody wrote.
import type { Cluster } from '../support/cluster.js';
import { classifyFailure, EtcdRpc, now, prefixEnd, prng, type WatchResponse } from '../support/history.js';

export interface SeenEvent {
  revision: bigint;
  key: string;
  value: string;
  type: string;
}

/** A watch that resumes from the revision after the last event it delivered. */
export class ResumingWatcher {
  readonly events: SeenEvent[] = [];
  reconnects = 0;
  private next: bigint;
  private rpc: EtcdRpc | undefined;
  private stream: ReturnType<EtcdRpc['watchStream']> | undefined;
  private stopped = false;
  private at: number;
  private readonly waiters = new Set<() => void>();
  lastError = '';

  constructor(
    private readonly endpoints: readonly string[],
    private readonly key: string,
    private readonly rangeEnd: string | undefined,
    startRevision: bigint,
    first = 0,
  ) {
    this.next = startRevision;
    this.at = first % endpoints.length;
  }

  get nextRevision(): bigint {
    return this.next;
  }

  start(): void {
    if (this.stopped) return;
    this.rpc?.close();
    const rpc = new EtcdRpc(this.endpoints[this.at]!);
    this.rpc = rpc;
    const stream = rpc.watchStream();
    this.stream = stream;
    let over = false;
    const restart = (why: string): void => {
      if (over || this.stopped) return;
      over = true;
      this.lastError = why;
      stream.cancel();
      this.reconnects++;
      this.at = (this.at + 1) % this.endpoints.length;
      // Reconnect backoff (the only delay here): a dead member refuses at once, so without it
      // a watcher would spin through the members while they restart.
      setTimeout(() => this.start(), 50).unref();
    };
    stream.on('data', (res: WatchResponse) => {
      // A replaced stream may still deliver what it had buffered: that is not this watch's output.
      if (over || this.stopped) return;
      if (res.canceled) {
        restart(`canceled: ${res.cancel_reason || 'no reason'} (compact revision ${res.compact_revision})`);
        return;
      }
      for (const ev of res.events) {
        const revision = BigInt(ev.kv.mod_revision);
        this.events.push({ revision, key: ev.kv.key.toString('utf8'), value: ev.kv.value.toString('utf8'), type: ev.type });
        if (revision >= this.next) this.next = revision + 1n;
      }
      if (res.events.length > 0) for (const w of this.waiters) w();
    });
    stream.on('error', (err: Error) => restart(err.message));
    stream.on('end', () => restart('stream ended'));
    stream.write({
      create_request: {
        key: Buffer.from(this.key),
        ...(this.rangeEnd !== undefined ? { range_end: Buffer.from(this.rangeEnd) } : {}),
        start_revision: this.next.toString(),
      },
    });
  }

  /** Resolves once an event at `revision` or later has been seen; rejects after `timeoutMs`. */
  waitFor(revision: bigint, timeoutMs: number): Promise<void> {
    if (this.next > revision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.next > revision) { done(); resolve(); }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`watcher saw up to revision ${this.next - 1n}, not ${revision}, within ${timeoutMs} ms (last error: ${this.lastError || 'none'})`));
      }, timeoutMs);
      const done = (): void => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
    });
  }

  stop(): void {
    this.stopped = true;
    this.stream?.cancel();
    this.rpc?.close();
  }
}

/** The complete history of `key` (or a prefix) from `from` up to `until`, read by a fresh watch. */
export async function readHistory(endpoints: readonly string[], key: string, rangeEnd: string | undefined, from: bigint, until: bigint, timeoutMs = 15_000): Promise<SeenEvent[]> {
  if (until < from) return [];
  const watcher = new ResumingWatcher(endpoints, key, rangeEnd, from);
  watcher.start();
  try {
    await watcher.waitFor(until, timeoutMs);
    return watcher.events.filter((e) => e.revision <= until);
  } finally {
    watcher.stop();
  }
}

/** A linearizable Range, retried on the members in turn until `timeoutMs` (reads are idempotent). */
export async function rangeAnywhere(endpoints: readonly string[], key: string, rangeEnd: string | undefined, timeoutMs = 15_000): Promise<{ revision: bigint; lastModRevision: bigint; count: number }> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; Date.now() < deadline; i++) {
    const rpc = new EtcdRpc(endpoints[i % endpoints.length]!);
    try {
      const res = await rpc.range(key, 2000, rangeEnd !== undefined ? { rangeEnd } : {});
      const lastMod = res.kvs.reduce((m, kv) => (BigInt(kv.mod_revision) > m ? BigInt(kv.mod_revision) : m), 0n);
      return { revision: BigInt(res.header.revision), lastModRevision: lastMod, count: res.kvs.length };
    } catch (err) {
      last = err;
    } finally {
      rpc.close();
    }
  }
  throw new Error(`no member served a linearizable Range within ${timeoutMs} ms: ${String(last)}`);
}

export interface WatchWorkloadOptions {
  cluster: Cluster;
  prefix: string;
  writers: number;
  watchers: number;
  durationMs: number;
  seed: number;
  /** Called once setup is done; resolves when the nemesis has finished and recovered the cluster. */
  startFaults?: () => Promise<void>;
}

export interface WatchWorkloadResult {
  writes: number;
  unknownWrites: number;
  events: number;
  reconnects: number;
  problems: string[];
}

export async function runWatchWorkload(opts: WatchWorkloadOptions): Promise<WatchWorkloadResult> {
  const endpoints = opts.cluster.endpoints;
  const rangeEnd = prefixEnd(opts.prefix);
  const start = (await rangeAnywhere(endpoints, opts.prefix, rangeEnd)).revision + 1n;
  const watchers = Array.from({ length: opts.watchers }, (_, i) => new ResumingWatcher(endpoints, opts.prefix, rangeEnd, start, i));
  for (const w of watchers) w.start();
  const faultsDone = opts.startFaults?.();
  const acked: SeenEvent[] = [];
  const attempted = new Map<string, string>(); // value -> key
  let unknownWrites = 0;
  const end = now() + opts.durationMs;
  try {
    await Promise.all(Array.from({ length: opts.writers }, async (_, wi) => {
      const rand = prng(opts.seed * 31 + wi);
      let at = wi % endpoints.length;
      const rpcs = endpoints.map((e) => new EtcdRpc(e));
      let seq = 0;
      try {
        while (now() < end) {
          const key = `${opts.prefix}k${Math.floor(rand() * 4)}`;
          const value = `p${wi}-${++seq}`;
          attempted.set(value, key);
          try {
            const res = await rpcs[at]!.put(key, value, 1000);
            acked.push({ revision: BigInt(res.header.revision), key, value, type: 'PUT' });
          } catch (err) {
            if (classifyFailure(err) === 'unknown') unknownWrites++;
            at = (at + 1) % endpoints.length;
          }
          await new Promise((r) => setTimeout(r, rand() * 5));
        }
      } finally {
        for (const r of rpcs) r.close();
      }
    }));
    await faultsDone;

    const problems: string[] = [];
    const final = await rangeAnywhere(endpoints, opts.prefix, rangeEnd);
    const until = final.lastModRevision;
    const reference = await readHistory(endpoints, opts.prefix, rangeEnd, start, until);
    const caughtUp = await Promise.allSettled(watchers.map((w) => w.waitFor(until, 20_000)));
    caughtUp.forEach((r, i) => { if (r.status === 'rejected') problems.push(`watcher ${i}: ${(r.reason as Error).message}`); });

    for (let i = 1; i < reference.length; i++) {
      if (reference[i]!.revision <= reference[i - 1]!.revision) problems.push(`reference history out of order at revision ${reference[i]!.revision}`);
    }
    const byRevision = new Map(reference.map((e) => [e.revision, e]));
    for (const a of acked) {
      const e = byRevision.get(a.revision);
      if (!e || e.key !== a.key || e.value !== a.value) {
        problems.push(`acknowledged put ${a.key}=${a.value} at revision ${a.revision} is not in the history (found ${e ? `${e.key}=${e.value}` : 'nothing'})`);
      }
    }
    for (const e of reference) {
      if (attempted.get(e.value) !== e.key) problems.push(`history has ${e.key}=${e.value} at ${e.revision}, which no writer wrote`);
    }
    watchers.forEach((w, i) => {
      const seen = w.events.filter((e) => e.revision <= until);
      for (let j = 1; j < seen.length; j++) {
        const prev = seen[j - 1]!.revision;
        const cur = seen[j]!.revision;
        if (cur === prev) problems.push(`watcher ${i}: duplicate revision ${cur}`);
        else if (cur < prev) problems.push(`watcher ${i}: revision ${cur} after ${prev} (out of order)`);
      }
      const same = seen.length === reference.length
        && seen.every((e, j) => e.revision === reference[j]!.revision && e.key === reference[j]!.key && e.value === reference[j]!.value);
      if (!same) {
        const missing = reference.filter((r) => !seen.some((e) => e.revision === r.revision)).map((r) => r.revision);
        problems.push(`watcher ${i}: saw ${seen.length} events, history has ${reference.length}; missing revisions ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`);
      }
    });
    return {
      writes: attempted.size,
      unknownWrites,
      events: reference.length,
      reconnects: watchers.reduce((s, w) => s + w.reconnects, 0),
      problems: problems.slice(0, 50),
    };
  } finally {
    for (const w of watchers) w.stop();
  }
}
