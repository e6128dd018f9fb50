// The replicated half of leases: which leases exist, their granted TTL and the keys they hold.
// When a lease expires is not here (that is the Lessor's, on the node that decides expiry).
import { ErrLeaseExist, ErrLeaseNotFound, ErrLeaseTtlTooLarge, invariant } from '../errors.js';
import type { KeyString } from '../mvcc/keys.js';
import type { LeaseHooks } from '../mvcc/kv.js';

/** etcd's MaxLeaseTTL: the largest TTL whose nanoseconds fit an int64, rounded to remember. */
export const MAX_LEASE_TTL = 9_000_000_000;

/**
 * etcd raises TTLs below ceil(1.5 x election timeout) to that minimum, so a lease cannot expire
 * during a leader election; with etcd's default 1 s election timeout that is 2 s.
 */
export const DEFAULT_MIN_LEASE_TTL = 2;

export interface Lease {
  readonly id: number;
  /** Seconds, after raising to the minimum. */
  readonly ttl: number;
  readonly keys: ReadonlySet<KeyString>;
}

interface MutableLease extends Lease {
  readonly keys: Set<KeyString>;
}

export class LeaseTable implements LeaseHooks {
  private readonly byId = new Map<number, MutableLease>();

  constructor(readonly minTtl: number = DEFAULT_MIN_LEASE_TTL) {
    invariant(Number.isSafeInteger(minTtl) && minTtl >= 1, 'minimum lease TTL is a positive integer');
  }

  get size(): number {
    return this.byId.size;
  }

  /** etcd's order of checks: id 0, TTL too large, id in use. Returns the lease as granted. */
  checkGrant(id: number, ttl: number): number {
    if (id === 0) throw ErrLeaseNotFound();
    if (ttl > MAX_LEASE_TTL) throw ErrLeaseTtlTooLarge();
    if (this.byId.has(id)) throw ErrLeaseExist();
    return Math.max(ttl, this.minTtl);
  }

  grant(id: number, ttl: number): Lease {
    const granted = this.checkGrant(id, ttl);
    const lease: MutableLease = { id, ttl: granted, keys: new Set() };
    this.byId.set(id, lease);
    return lease;
  }

  get(id: number): Lease | undefined {
    return this.byId.get(id);
  }

  exists(id: number): boolean {
    return this.byId.has(id);
  }

  attach(id: number, key: KeyString): void {
    const lease = this.byId.get(id);
    invariant(lease !== undefined, 'keys attach only to existing leases');
    lease.keys.add(key);
  }

  detach(id: number, key: KeyString): void {
    const lease = this.byId.get(id);
    invariant(lease !== undefined && lease.keys.has(key), 'a key detaches from the lease it holds');
    lease.keys.delete(key);
  }

  /** Forgets the lease; returns its keys sorted (etcd deletes them in key order). */
  revoke(id: number): KeyString[] {
    const lease = this.byId.get(id);
    if (lease === undefined) throw ErrLeaseNotFound();
    this.byId.delete(id);
    return [...lease.keys].sort();
  }

  /** Leases ordered by id, so listings and snapshots are deterministic. */
  list(): Lease[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }
}
