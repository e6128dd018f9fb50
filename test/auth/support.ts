// Shared fixtures for the auth tests: a fake clock and a hand-rolled JWS signer for forgeries
// that jose (rightly) refuses to produce.
import { createHmac, sign, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import { AuthError, createIssuer, createVerifier, KeyRing, type Clock, type VerifierConfig } from '../../src/auth/index.js';

export const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
export const ISSUER = 'https://auth.shoal.test';
export const AUDIENCE = 'shop-api';

export class FakeClock {
  constructor(public ms = T0) {}
  readonly now: Clock = () => this.ms;
  advanceSeconds(s: number): void {
    this.ms += s * 1000;
  }
}

export function setup(overrides: Partial<VerifierConfig> = {}, alg: 'EdDSA' | 'ES256' = 'EdDSA') {
  const clock = new FakeClock();
  const ring = KeyRing.generate({ alg, now: clock.now });
  const issuer = createIssuer({ issuer: ISSUER, audience: AUDIENCE, keyRing: ring, now: clock.now });
  const verifier = createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    keyRing: ring,
    algorithms: [alg],
    clockToleranceSeconds: 30,
    now: clock.now,
    ...overrides,
  });
  return { clock, ring, issuer, verifier };
}

export const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export function decodeSegment(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** A JWS over `header` and `payload`, signed with whatever key and algorithm the forger likes. */
export function forge(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: { ed25519?: KeyObject; es256?: KeyObject; hmac?: Buffer | string },
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  let signature: Buffer;
  if (signer.ed25519 !== undefined) signature = sign(null, Buffer.from(input), signer.ed25519);
  else if (signer.es256 !== undefined) signature = sign('sha256', Buffer.from(input), { key: signer.es256, dsaEncoding: 'ieee-p1363' });
  else if (signer.hmac !== undefined) signature = createHmac('sha256', signer.hmac).update(input).digest();
  else throw new Error('no signer');
  return `${input}.${signature.toString('base64url')}`;
}

/** Claims that would pass every check, for forgeries that should fail on one thing only. */
export function goodClaims(clock: FakeClock, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(clock.ms / 1000);
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', jti: 'jti-1', iat: now, nbf: now, exp: now + 300, scope: '', roles: [], ...extra };
}

export async function rejectionOf(p: Promise<unknown>): Promise<AuthError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return err as AuthError;
  }
  throw new Error('expected a rejection');
}
