// One asymmetric signing key and its identity. The kid is the RFC 7638 thumbprint of the public
// key, so it is derived, not chosen: two different keys can never share a kid we issued.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { AuthError, AuthErrorCode } from './errors.js';

export type SigningAlgorithm = 'EdDSA' | 'ES256';
export const SIGNING_ALGORITHMS: readonly SigningAlgorithm[] = Object.freeze(['EdDSA', 'ES256']);

export interface PublicJwk {
  kty: 'OKP' | 'EC';
  crv: 'Ed25519' | 'P-256';
  x: string;
  y?: string;
  kid: string;
  alg: SigningAlgorithm;
  use: 'sig';
}

export interface PrivateJwk extends PublicJwk {
  d: string;
}

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The public half only: safe to publish. */
  readonly publicJwk: Readonly<PublicJwk>;
  /** When the key was made (ms since epoch). */
  readonly createdAt: number;
}

const CURVE = { EdDSA: { kty: 'OKP', crv: 'Ed25519' }, ES256: { kty: 'EC', crv: 'P-256' } } as const;

export function isSigningAlgorithm(alg: unknown): alg is SigningAlgorithm {
  return alg === 'EdDSA' || alg === 'ES256';
}

export function generateSigningKey(alg: SigningAlgorithm, createdAt: number): SigningKey {
  if (!isSigningAlgorithm(alg)) throw new TypeError(`unsupported signing algorithm (supported: ${SIGNING_ALGORITHMS.join(', ')})`);
  const { privateKey } =
    alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return fromPrivateKey(privateKey, alg, createdAt);
}

/** A key from its private JWK (as saved in a key file); checks that kid, alg and curve agree. */
export function signingKeyFromPrivateJwk(jwk: unknown, createdAt: number): SigningKey {
  const invalid = (why: string): AuthError => new AuthError(AuthErrorCode.KEY_INVALID, `signing key invalid: ${why}`);
  if (typeof jwk !== 'object' || jwk === null) throw invalid('not an object');
  const j = jwk as Record<string, unknown>;
  if (!isSigningAlgorithm(j.alg)) throw invalid('unsupported alg');
  const curve = CURVE[j.alg];
  if (j.kty !== curve.kty || j.crv !== curve.crv) throw invalid('key type does not match alg');
  if (typeof j.d !== 'string' || j.d.length === 0) throw invalid('private part missing');
  let privateKey: KeyObject;
  try {
    const parts = curve.kty === 'EC' ? { kty: j.kty, crv: j.crv, x: j.x, y: j.y, d: j.d } : { kty: j.kty, crv: j.crv, x: j.x, d: j.d };
    privateKey = createPrivateKey({ key: parts as JsonWebKey, format: 'jwk' });
  } catch {
    throw invalid('key material does not parse');
  }
  const key = fromPrivateKey(privateKey, j.alg, createdAt);
  // The public coordinates are recomputed from d; a file whose x/y or kid disagree was tampered with.
  if (key.publicJwk.x !== j.x || key.publicJwk.y !== j.y || key.kid !== j.kid) throw invalid('public part or kid does not match d');
  return key;
}

export function exportPrivateJwk(key: SigningKey): PrivateJwk {
  const jwk = key.privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new Error('assertion: a signing key has a private part');
  return { ...key.publicJwk, d: jwk.d };
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) over the required members in lexicographic order. */
export function jwkThumbprint(jwk: { kty: string; crv: string; x: string; y?: string }): string {
  const canonical =
    jwk.kty === 'EC'
      ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
      : JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}

function fromPrivateKey(privateKey: KeyObject, alg: SigningAlgorithm, createdAt: number): SigningKey {
  if (!Number.isFinite(createdAt)) throw new TypeError('createdAt must be a finite time');
  const publicKey = createPublicKey(privateKey);
  const exported = publicKey.export({ format: 'jwk' });
  const curve = CURVE[alg];
  if (exported.kty !== curve.kty || exported.crv !== curve.crv || typeof exported.x !== 'string') {
    throw new AuthError(AuthErrorCode.KEY_INVALID, 'signing key invalid: key type does not match alg');
  }
  const base = { kty: curve.kty, crv: curve.crv, x: exported.x, ...(curve.kty === 'EC' ? { y: exported.y as string } : {}) };
  const kid = jwkThumbprint(base);
  const publicJwk: PublicJwk = Object.freeze({ ...base, kid, alg, use: 'sig' as const });
  return Object.freeze({ kid, alg, privateKey, publicKey, publicJwk, createdAt });
}
