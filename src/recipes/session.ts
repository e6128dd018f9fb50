// A lease kept alive for as long as its holder runs: what makes a dead holder's lock or candidacy
// disappear after the TTL. Like etcd's concurrency.Session, but it also tells the holder, from
// its own clock, when it can no longer be sure the lease exists (`isAlive()`), so a holder that
// is cut off stops acting as holder before the server frees the lease for someone else.
import type { Etcd3, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse, IDuplexStream } from 'etcd3';
import { isOutcomeUnknown } from './client.js';
import { SessionLostError } from './errors.js';

export interface SessionOptions {
  /** Lease TTL in seconds (>= 1). Default 10. */
  ttlSeconds?: number;
  signal?: AbortSignal;
}

/** Outcome-unknown grants are retried: a grant that did land leaves a lease with no keys, which expires on its own. */
const GRANT_ATTEMPTS = 3;
const RECONNECT_DELAY_MS = 100;

export class Session {
  /** Aborted (with a SessionLostError as reason) when the lease is, or may be, gone. */
  readonly lost: AbortSignal;
  private readonly lostController = new AbortController();
  private closed = false;
  /** Local time until which the lease is known to exist: the send time of the newest confirmed keep-alive plus its TTL. */
  private aliveUntil: number;
  private expiryTimer: NodeJS.Timeout | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  private readonly pendingSends: number[] = [];

  private constructor(
    private readonly client: Etcd3,
    /** Decimal lease id, as etcd3 returns it. */
    readonly leaseId: string,
    readonly ttlSeconds: number,
    grantedAt: number,
  ) {
    this.lost = this.lostController.signal;
    this.aliveUntil = grantedAt + ttlSeconds * 1000;
    this.armExpiry();
    this.openKeepAlive();
  }

  static async create(client: Etcd3, opts: SessionOptions = {}): Promise<Session> {
    const ttl = opts.ttlSeconds ?? 10;
    if (!Number.isInteger(ttl) || ttl < 1) throw new RangeError(`ttlSeconds must be an integer >= 1, got ${ttl}`);
    for (let attempt = 1; ; attempt++) {
      opts.signal?.throwIfAborted();
      const before = Date.now();
      try {
        const res = await client.leaseClient.leaseGrant({ TTL: ttl });
        if (res.error) throw new Error(`lease grant failed: ${res.error}`);
        const granted = Number(res.TTL);
        if (!(granted >= 1)) throw new Error(`lease grant returned TTL ${res.TTL}`);
        return new Session(client, res.ID, granted, before);
      } catch (err) {
        if (!isOutcomeUnknown(err) || attempt >= GRANT_ATTEMPTS) throw err;
      }
    }
  }

  /** The lease id as etcd's concurrency package formats it in keys (%x). */
  get leaseIdHex(): string {
    return BigInt(this.leaseId).toString(16);
  }

  /** True while the lease is known to exist: not revoked, not expired, keep-alives confirmed within the TTL. */
  isAlive(): boolean {
    return !this.closed && !this.lost.aborted && Date.now() < this.aliveUntil;
  }

  /** Stops keep-alives and revokes the lease, which deletes every key attached to it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.stopKeepAlive();
    this.closed = true;
    try {
      await this.client.leaseClient.leaseRevoke({ ID: this.leaseId });
    } catch (err) {
      // Already gone (expired, revoked elsewhere, or a retried revoke whose first attempt landed).
      if (!/requested lease not found/.test((err as Error).message)) throw err;
    } finally {
      this.lose(new SessionLostError(`lease ${this.leaseId} was revoked by its holder`));
    }
  }

  /** Stops keep-alives without revoking: the lease expires after its TTL (what a crashed holder looks like). */
  abandon(): void {
    this.stopKeepAlive();
    this.closed = true;
    this.lose(new SessionLostError(`lease ${this.leaseId} was abandoned by its holder`));
  }

  private lose(reason: SessionLostError): void {
    this.stopKeepAlive();
    if (!this.lost.aborted) this.lostController.abort(reason);
  }

  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const ms = Math.max(0, this.aliveUntil - Date.now());
    this.expiryTimer = setTimeout(() => {
      if (Date.now() >= this.aliveUntil) this.lose(new SessionLostError(`lease ${this.leaseId}: no keep-alive confirmed within its ${this.ttlSeconds}s TTL`));
      else this.armExpiry();
    }, ms);
    this.expiryTimer.unref();
  }

  private stopKeepAlive(): void {
    clearTimeout(this.expiryTimer);
    clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (stream) {
      try { stream.end(); } catch { /* already closed */ }
      try { stream.cancel(); } catch { /* already closed */ }
    }
  }

  private openKeepAlive(): void {
    if (this.closed || this.lost.aborted) return;
    this.client.leaseClient
      .leaseKeepAlive()
      .then((stream) => {
        if (this.closed || this.lost.aborted) {
          stream.cancel();
          return;
        }
        this.stream = stream;
        this.pendingSends.length = 0;
        stream.on('data', (res) => this.onKeepAlive(res));
        stream.on('error', () => this.reconnect(stream));
        stream.on('end', () => this.reconnect(stream));
        this.sendKeepAlive();
        // The Go client renews at a third of the TTL: two renewals can be lost before expiry.
        this.keepAliveTimer = setInterval(() => this.sendKeepAlive(), (this.ttlSeconds * 1000) / 3);
        this.keepAliveTimer.unref();
      })
      .catch(() => this.reconnect(undefined));
  }

  private sendKeepAlive(): void {
    const stream = this.stream;
    if (!stream) return;
    this.pendingSends.push(Date.now());
    try {
      stream.write({ ID: this.leaseId });
    } catch {
      this.reconnect(stream);
    }
  }

  private onKeepAlive(res: ILeaseKeepAliveResponse): void {
    const sentAt = this.pendingSends.shift();
    const ttl = Number(res.TTL);
    if (!(ttl > 0)) {
      this.lose(new SessionLostError(`lease ${this.leaseId} expired or was revoked (keep-alive answered TTL ${res.TTL})`));
      return;
    }
    // Responses arrive in request order, so this is the send time of the request it answers.
    if (sentAt !== undefined) {
      this.aliveUntil = Math.max(this.aliveUntil, sentAt + ttl * 1000);
      this.armExpiry();
    }
  }

  private reconnect(stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined): void {
    if (stream !== undefined && stream !== this.stream) return; // a stale stream's late event
    clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
    this.stream = undefined;
    if (this.closed || this.lost.aborted) return;
    // The expiry timer keeps running: if reconnecting takes longer than the TTL, the session is lost.
    setTimeout(() => this.openKeepAlive(), RECONNECT_DELAY_MS).unref();
  }
}
