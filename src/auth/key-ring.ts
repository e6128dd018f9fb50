// The set of signing keys: exactly one active key signs; keys it replaced stay for verification
// until every token they signed has expired, then the operator (or a timer) drops them.
import { systemClock, type Clock } from './clock.js';
import { AuthError, AuthErrorCode } from './errors.js';
import {
  exportPrivateJwk,
  generateSigningKey,
  signingKeyFromPrivateJwk,
  type PrivateJwk,
  type PublicJwk,
  type SigningAlgorithm,
  type SigningKey,
} from './keys.js';

export interface JwkSet {
  keys: PublicJwk[];
}

export interface KeyRingEntry {
  readonly key: SigningKey;
  /** When it stopped signing (ms); undefined for the active key. */
  readonly retiredAt: number | undefined;
}

/** The on-disk form. Holds private keys: keep it out of logs and repositories, mode 0600. */
export interface KeyRingFile {
  version: 1;
  activeKid: string;
  keys: Array<{ createdAt: number; retiredAt?: number; jwk: PrivateJwk }>;
}

export interface KeyRingOptions {
  /** Algorithm of keys made by generate() and rotate(). Default EdDSA (Ed25519). */
  alg?: SigningAlgorithm;
  now?: Clock;
}

/** More verification keys than this means old ones are never dropped. */
const MAX_KEYS = 32;

export class KeyRing {
  private readonly entries = new Map<string, { key: SigningKey; retiredAt: number | undefined }>();
  private activeKid: string;
  private readonly alg: SigningAlgorithm;
  private readonly now: Clock;

  private constructor(active: SigningKey, options: KeyRingOptions) {
    this.alg = options.alg ?? active.alg;
    this.now = options.now ?? systemClock;
    this.entries.set(active.kid, { key: active, retiredAt: undefined });
    this.activeKid = active.kid;
  }

  /** A ring with one fresh key. */
  static generate(options: KeyRingOptions = {}): KeyRing {
    const now = options.now ?? systemClock;
    return new KeyRing(generateSigningKey(options.alg ?? 'EdDSA', now()), options);
  }

  /** A ring whose active key is `key` (for callers that manage key material themselves). */
  static of(key: SigningKey, options: KeyRingOptions = {}): KeyRing {
    return new KeyRing(key, options);
  }

  static fromFile(value: unknown, options: KeyRingOptions = {}): KeyRing {
    const invalid = (why: string): AuthError => new AuthError(AuthErrorCode.KEY_INVALID, `key ring invalid: ${why}`);
    if (typeof value !== 'object' || value === null) throw invalid('not an object');
    const file = value as Partial<KeyRingFile>;
    if (file.version !== 1) throw invalid('unknown version');
    if (!Array.isArray(file.keys) || file.keys.length === 0 || file.keys.length > MAX_KEYS) throw invalid('bad key list');
    const loaded = file.keys.map((k) => {
      if (typeof k !== 'object' || k === null || !Number.isFinite(k.createdAt)) throw invalid('bad key entry');
      if (k.retiredAt !== undefined && !Number.isFinite(k.retiredAt)) throw invalid('bad retiredAt');
      return { key: signingKeyFromPrivateJwk(k.jwk, k.createdAt), retiredAt: k.retiredAt };
    });
    const active = loaded.find((e) => e.key.kid === file.activeKid);
    if (active === undefined || active.retiredAt !== undefined) throw invalid('active key missing or retired');
    const ring = new KeyRing(active.key, options);
    ring.entries.clear(); // re-filled in file order
    for (const e of loaded) {
      if (ring.entries.has(e.key.kid)) throw invalid('duplicate kid');
      if (e.retiredAt === undefined && e !== active) throw invalid('more than one active key');
      ring.entries.set(e.key.kid, e);
    }
    return ring;
  }

  get active(): SigningKey {
    const entry = this.entries.get(this.activeKid);
    if (entry === undefined || entry.retiredAt !== undefined) throw new Error('assertion: the key ring has an active key');
    return entry.key;
  }

  /** A key that may verify tokens (the active one or a retired one not yet dropped). */
  get(kid: string): SigningKey | undefined {
    return this.entries.get(kid)?.key;
  }

  list(): KeyRingEntry[] {
    return [...this.entries.values()].map((e) => ({ key: e.key, retiredAt: e.retiredAt }));
  }

  /**
   * Makes `next` (or a fresh key) the signing key; the old one keeps verifying until dropped.
   * Publish the new JWKS before tokens signed by it reach resource servers that cache the old one.
   */
  rotate(next?: SigningKey): SigningKey {
    const key = next ?? generateSigningKey(this.alg, this.now());
    if (this.entries.has(key.kid)) throw new AuthError(AuthErrorCode.KEY_INVALID, 'key ring invalid: key already in the ring');
    if (this.entries.size >= MAX_KEYS) throw new AuthError(AuthErrorCode.KEY_INVALID, 'key ring invalid: too many keys; drop retired ones');
    const previous = this.entries.get(this.activeKid);
    if (previous === undefined) throw new Error('assertion: the key ring has an active key');
    previous.retiredAt = this.now();
    this.entries.set(key.kid, { key, retiredAt: undefined });
    this.activeKid = key.kid;
    return key;
  }

  /** Stops accepting tokens signed by `kid`. The active key cannot be dropped. */
  drop(kid: string): boolean {
    if (kid === this.activeKid) throw new AuthError(AuthErrorCode.KEY_INVALID, 'key ring invalid: cannot drop the active key');
    return this.entries.delete(kid);
  }

  /**
   * Drops keys retired at or before `cutoff` (ms). Call with now - (longest token ttl + clock
   * tolerance): no unexpired token can carry their kid any more.
   */
  dropRetiredBefore(cutoff: number): string[] {
    const dropped: string[] = [];
    for (const [kid, e] of this.entries) {
      if (e.retiredAt !== undefined && e.retiredAt <= cutoff) {
        this.entries.delete(kid);
        dropped.push(kid);
      }
    }
    return dropped;
  }

  /** The public JWK Set for /.well-known/jwks.json: public members only, active key first. */
  jwks(): JwkSet {
    const keys = [this.active, ...[...this.entries.values()].filter((e) => e.retiredAt !== undefined).map((e) => e.key)];
    return { keys: keys.map((k) => ({ ...k.publicJwk })) };
  }

  /**
   * What JSON.stringify (and so any logger) sees: public parts only. The private form has a
   * name nobody calls by accident: toFile().
   */
  toJSON(): { activeKid: string } & JwkSet {
    return { activeKid: this.activeKid, ...this.jwks() };
  }

  /** The private, persistable form (see KeyRingFile). */
  toFile(): KeyRingFile {
    return {
      version: 1,
      activeKid: this.activeKid,
      keys: [...this.entries.values()].map((e) => ({
        createdAt: e.key.createdAt,
        ...(e.retiredAt !== undefined ? { retiredAt: e.retiredAt } : {}),
        jwk: exportPrivateJwk(e.key),
      })),
    };
  }
}
