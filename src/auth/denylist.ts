// Revoked access tokens, by jti, kept only until the token would have expired anyway — after
// that the exp check rejects it and the entry is dead weight.
import { epochSeconds, systemClock, type Clock } from './clock.js';

export interface AccessTokenDenylist {
  /** Deny `jti` until `expiresAt` (NumericDate, seconds). */
  add(jti: string, expiresAt: number): Promise<void> | void;
  has(jti: string): Promise<boolean> | boolean;
}

/** A single-process denylist. A multi-instance gateway needs a shared one (Redis, the coordinator). */
export class MemoryDenylist implements AccessTokenDenylist {
  private readonly entries = new Map<string, number>();
  private readonly now: Clock;

  constructor(options: { now?: Clock } = {}) {
    this.now = options.now ?? systemClock;
  }

  add(jti: string, expiresAt: number): void {
    if (typeof jti !== 'string' || jti.length === 0) throw new TypeError('jti must be a non-empty string');
    if (!Number.isFinite(expiresAt)) throw new TypeError('expiresAt must be a NumericDate');
    this.prune();
    if (expiresAt > epochSeconds(this.now())) this.entries.set(jti, Math.max(expiresAt, this.entries.get(jti) ?? 0));
  }

  has(jti: string): boolean {
    const until = this.entries.get(jti);
    return until !== undefined && until > epochSeconds(this.now());
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops entries for tokens that have expired on their own. */
  prune(): void {
    const now = epochSeconds(this.now());
    for (const [jti, until] of this.entries) if (until <= now) this.entries.delete(jti);
  }
}
