// Expiry deadlines, held only by the node that decides expiry (the leader). Keep-alives renew a
// deadline here without going through the log, as in etcd; an expired lease is reported to the
// host, which proposes a leaseRevoke command. Pure: time is always passed in (ms).
import { ErrLeaseNotFound, ErrNotLeader, invariant } from '../errors.js';

export interface LessorOptions {
  /** After reporting a lease as expired, wait this long before reporting it again (etcd: 3 s). */
  expiredRetryMs?: number;
}

interface Entry {
  readonly id: number;
  readonly ttl: number;
  /** ms; Infinity while not primary (etcd's "forever"). */
  deadline: number;
  /** ms before which an expired lease is not reported again. */
  retryAt: number;
}

interface HeapItem {
  readonly deadline: number;
  readonly id: number;
}

export class Lessor {
  private readonly entries = new Map<number, Entry>();
  /** Min-heap by (deadline, id); stale items (renewed or revoked leases) are skipped lazily. */
  private heap: HeapItem[] = [];
  private primary = false;
  private readonly expiredRetryMs: number;

  constructor(options: LessorOptions = {}) {
    this.expiredRetryMs = options.expiredRetryMs ?? 3000;
  }

  get isPrimary(): boolean {
    return this.primary;
  }

  get size(): number {
    return this.entries.size;
  }

  has(id: number): boolean {
    return this.entries.has(id);
  }

  /** Records an applied leaseGrant; `ttl` is the granted TTL in seconds. */
  grant(id: number, ttl: number, now: number): void {
    invariant(!this.entries.has(id), 'a lease is granted once');
    const entry: Entry = { id, ttl, deadline: Infinity, retryAt: -Infinity };
    this.entries.set(id, entry);
    if (this.primary) this.refresh(entry, now);
  }

  /** Records an applied leaseRevoke (or a lease gone after a snapshot restore). */
  revoke(id: number): void {
    this.entries.delete(id);
  }

  /** Keep-alive: pushes the deadline to now + ttl and returns the TTL. Only on the primary. */
  renew(id: number, now: number): number {
    if (!this.primary) throw ErrNotLeader();
    const entry = this.entries.get(id);
    // An expired lease awaiting its revoke cannot be renewed (etcd answers lease not found).
    if (entry === undefined || entry.deadline <= now) throw ErrLeaseNotFound();
    this.refresh(entry, now);
    return entry.ttl;
  }

  /** Seconds left (truncated, as etcd), -1 for an unknown lease, the TTL when not primary. */
  remainingTtl(id: number, now: number): number {
    const entry = this.entries.get(id);
    if (entry === undefined) return -1;
    if (!this.primary) return entry.ttl;
    return Math.max(0, Math.floor((entry.deadline - now) / 1000));
  }

  /**
   * Leases whose deadline has passed and that were not reported in the last retry interval,
   * oldest deadline first, at most `limit` (etcd rate-limits revokes the same way).
   */
  expired(now: number, limit = Infinity): number[] {
    if (!this.primary) return [];
    const out: number[] = [];
    const retry: Entry[] = [];
    while (out.length < limit && this.heap.length > 0 && this.heap[0]!.deadline <= now) {
      const item = this.pop();
      const entry = this.entries.get(item.id);
      if (entry === undefined || entry.deadline !== item.deadline) continue; // stale
      retry.push(entry);
      if (entry.retryAt > now) continue;
      entry.retryAt = now + this.expiredRetryMs;
      out.push(entry.id);
    }
    // Still expired until the revoke applies: keep them in the heap.
    for (const entry of retry) this.push({ deadline: entry.deadline, id: entry.id });
    return out;
  }

  /**
   * On becoming leader: every deadline restarts at now + ttl (+ extendMs), so time spent without
   * a leader, or this node's stale view of old deadlines, never expires a live lease early.
   */
  promote(now: number, extendMs = 0): void {
    this.primary = true;
    this.heap = [];
    for (const entry of this.entries.values()) {
      entry.retryAt = -Infinity;
      this.refresh(entry, now + extendMs);
    }
  }

  /** On losing leadership: no deadlines (etcd's "forever") until promoted again. */
  demote(): void {
    this.primary = false;
    this.heap = [];
    for (const entry of this.entries.values()) entry.deadline = Infinity;
  }

  /** Brings the lessor in line with the replicated lease table (after a snapshot restore). */
  sync(leases: Iterable<{ id: number; ttl: number }>, now: number): void {
    const live = new Set<number>();
    for (const { id, ttl } of leases) {
      live.add(id);
      if (!this.entries.has(id)) this.grant(id, ttl, now);
    }
    for (const id of [...this.entries.keys()]) if (!live.has(id)) this.revoke(id);
  }

  private refresh(entry: Entry, now: number): void {
    entry.deadline = now + entry.ttl * 1000;
    this.push({ deadline: entry.deadline, id: entry.id });
    // Renewals leave stale items behind; rebuild before they dominate the heap.
    if (this.heap.length > 2 * this.entries.size + 64) this.rebuildHeap();
  }

  private rebuildHeap(): void {
    this.heap = [];
    for (const e of this.entries.values()) if (e.deadline !== Infinity) this.push({ deadline: e.deadline, id: e.id });
  }

  private push(item: HeapItem): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): HeapItem {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: HeapItem, b: HeapItem): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.id < b.id);
}
