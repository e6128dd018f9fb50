// Access tokens revoked through any gateway worker, kept by the cluster primary until they expire
// on their own, so a worker forked later (a restart) denies them too. Bounded: past `max` the
// oldest entry goes (a token that old has most likely expired; access tokens live 15 minutes).
export class RevocationLog {
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly max = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  add(token: string): void {
    this.prune();
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, expiresAtMs(token, this.now()));
  }

  /** The tokens not yet expired. */
  live(): string[] {
    this.prune();
    return [...this.entries.keys()];
  }

  private prune(): void {
    const now = this.now();
    for (const [token, until] of this.entries) if (until <= now) this.entries.delete(token);
  }
}

/**
 * `exp` of a JWT, read without verification: it only decides how long the primary remembers the
 * token; the worker that applies the revocation verifies it. Unreadable → one hour.
 */
function expiresAtMs(token: string, now: number): number {
  try {
    const exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    if (typeof exp === 'number' && Number.isFinite(exp)) return Math.min(exp * 1000, now + 86_400_000);
  } catch {
    // not a JWT payload: fall through
  }
  return now + 3_600_000;
}
