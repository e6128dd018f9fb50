export interface OutlierOptions {
  /** Milliseconds, injected. */
  now: () => number;
  /** Eject after this many failures in a row. */
  consecutiveFailures?: number;
  /** First ejection lasts this long; the n-th one n times as long… */
  baseEjectionMs?: number;
  /** …up to this. */
  maxEjectionMs?: number;
  /** Never eject more than this fraction of the endpoints known (floored: 1 of 2, 0 of 1). */
  maxEjectedFraction?: number;
  onEject?: (event: { endpoint: string; untilMs: number; ejections: number }) => void;
  onReturn?: (event: { endpoint: string; at: number }) => void;
}

interface Host {
  consecutive: number;
  ejectedUntil: number | undefined;
  ejections: number;
  returnedAt: number;
}

/**
 * Envoy-style outlier detection on consecutive failures. An ejected endpoint returns after its
 * ejection time; repeat offenders stay out longer (base × ejections, capped), and the count
 * drops by one for every base period an endpoint stays in. The cap on the ejected fraction keeps
 * a pool-wide problem (a bad deploy, a dependency down) from ejecting everything: then the calls
 * should fail visibly, not pile on the last survivors.
 */
export class OutlierDetector {
  private readonly hosts = new Map<string, Host>();
  private readonly threshold: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly maxFraction: number;

  constructor(private readonly options: OutlierOptions) {
    this.threshold = options.consecutiveFailures ?? 5;
    this.baseMs = options.baseEjectionMs ?? 30_000;
    this.maxMs = options.maxEjectionMs ?? 300_000;
    this.maxFraction = options.maxEjectedFraction ?? 0.5;
    if (!(this.threshold >= 1) || !(this.baseMs > 0) || !(this.maxMs >= this.baseMs)) {
      throw new RangeError('outlier: consecutiveFailures >= 1, baseEjectionMs > 0, maxEjectionMs >= baseEjectionMs');
    }
    if (!(this.maxFraction >= 0 && this.maxFraction <= 1)) throw new RangeError('outlier: maxEjectedFraction in [0, 1]');
  }

  /** The pool the cap is measured against; forgets endpoints that left. */
  setEndpoints(ids: Iterable<string>): void {
    const keep = new Set(ids);
    for (const id of this.hosts.keys()) if (!keep.has(id)) this.hosts.delete(id);
    for (const id of keep) this.host(id);
  }

  /** Forgets an endpoint's history (it came back as a fresh registration). */
  forget(id: string): void {
    this.hosts.delete(id);
  }

  record(id: string, ok: boolean): void {
    const h = this.host(id);
    const now = this.options.now();
    this.expire(id, h, now);
    if (ok) {
      h.consecutive = 0;
      return;
    }
    h.consecutive++;
    if (h.ejectedUntil === undefined && h.consecutive >= this.threshold && this.canEjectAnother(now)) {
      const decayed = Math.max(0, h.ejections - Math.floor((now - h.returnedAt) / this.baseMs));
      h.ejections = decayed + 1;
      h.ejectedUntil = now + Math.min(this.maxMs, this.baseMs * h.ejections);
      this.options.onEject?.({ endpoint: id, untilMs: h.ejectedUntil, ejections: h.ejections });
    }
  }

  isEjected(id: string): boolean {
    const h = this.hosts.get(id);
    if (h === undefined) return false;
    this.expire(id, h, this.options.now());
    return h.ejectedUntil !== undefined;
  }

  /** The endpoints that are not ejected. */
  available<E extends { readonly id: string }>(endpoints: readonly E[]): E[] {
    return endpoints.filter((e) => !this.isEjected(e.id));
  }

  ejectedCount(): number {
    let n = 0;
    for (const id of this.hosts.keys()) if (this.isEjected(id)) n++;
    return n;
  }

  private canEjectAnother(now: number): boolean {
    let ejected = 0;
    for (const [id, h] of this.hosts) {
      this.expire(id, h, now);
      if (h.ejectedUntil !== undefined) ejected++;
    }
    return ejected + 1 <= Math.floor(this.maxFraction * this.hosts.size);
  }

  private expire(id: string, h: Host, now: number): void {
    if (h.ejectedUntil !== undefined && now >= h.ejectedUntil) {
      h.ejectedUntil = undefined;
      h.returnedAt = now;
      // A returning endpoint gets a clean slate: one failure must not eject it again at once.
      h.consecutive = 0;
      this.options.onReturn?.({ endpoint: id, at: now });
    }
  }

  private host(id: string): Host {
    let h = this.hosts.get(id);
    if (h === undefined) {
      h = { consecutive: 0, ejectedUntil: undefined, ejections: 0, returnedAt: this.options.now() };
      this.hosts.set(id, h);
    }
    return h;
  }
}
