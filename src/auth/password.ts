// Password hashing with scrypt. The encoded form names its own parameters
// (`scrypt$N$r$p$salt$hash`, salt and hash base64url) so the cost can be raised later: old hashes
// still verify, and needsRehash() tells the login path to re-hash with the new cost.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { AuthError, AuthErrorCode } from './errors.js';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelisation. */
  p: number;
}

/**
 * N=2^15, r=8, p=1: 32 MiB and ~97 ms per hash on the 2-core reference machine (measured
 * 2026-11-22, Node 20.20). That is OWASP's scrypt floor doubled; 2^16 took ~200 ms.
 */
export const DEFAULT_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });

/**
 * Inputs beyond this many UTF-8 bytes are refused: it bounds the work done before scrypt
 * (normalisation, copying, the PBKDF2 key hashing) on attacker-chosen input.
 */
export const MAX_PASSWORD_BYTES = 1024;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
// Bounds on what a stored hash may ask for, so a corrupted or planted row cannot make one
// verification allocate gigabytes or spin for minutes.
const MIN_LOG2_N = 10;
const MAX_LOG2_N = 20;
const MAX_R = 32;
const MAX_P = 16;
const MIN_BYTES = 16;
const MAX_BYTES = 64;

export interface HashOptions {
  /** Cost parameters; tests pass cheaper ones. Defaults to DEFAULT_SCRYPT_PARAMS. */
  params?: ScryptParams;
}

export interface ParsedPasswordHash {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

export async function hashPassword(password: string, options: HashOptions = {}): Promise<string> {
  const params = options.params ?? DEFAULT_SCRYPT_PARAMS;
  assertParams(params, (m) => new TypeError(`invalid scrypt parameters: ${m}`));
  const input = passwordBytes(password);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(input, salt, HASH_BYTES, params);
  return encode({ params, salt, hash });
}

/**
 * True when `password` matches `encoded`. Pass `encoded = null` when the account does not exist:
 * the same work is done against a dummy hash and false comes back, so response time does not
 * reveal which accounts exist.
 */
export async function verifyPassword(password: string, encoded: string | null): Promise<boolean> {
  const input = passwordBytes(password);
  const stored = encoded === null ? await dummyHash() : parsePasswordHash(encoded);
  const candidate = await derive(input, stored.salt, stored.hash.length, stored.params);
  const same = timingSafeEqual(candidate, stored.hash);
  return encoded !== null && same;
}

/** True when `encoded` was made with weaker parameters (or a shorter salt/hash) than `target`. */
export function needsRehash(encoded: string, target: ScryptParams = DEFAULT_SCRYPT_PARAMS): boolean {
  const { params, salt, hash } = parsePasswordHash(encoded);
  return (
    params.N < target.N || params.r < target.r || params.p < target.p || salt.length < SALT_BYTES || hash.length < HASH_BYTES
  );
}

export function parsePasswordHash(encoded: string): ParsedPasswordHash {
  const malformed = (why: string): AuthError =>
    new AuthError(AuthErrorCode.PASSWORD_HASH_MALFORMED, `stored password hash is malformed: ${why}`);
  if (typeof encoded !== 'string' || encoded.length > 512) throw malformed('not a string of sane length');
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw malformed('expected scrypt$N$r$p$salt$hash');
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const params = { N: decimal(n), r: decimal(r), p: decimal(p) };
  assertParams(params, malformed);
  return { params, salt: b64(salt, 'salt', malformed), hash: b64(hash, 'hash', malformed) };
}

function encode({ params, salt, hash }: ParsedPasswordHash): string {
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

function passwordBytes(password: string): Buffer {
  const rejected = (why: string): AuthError => new AuthError(AuthErrorCode.PASSWORD_REJECTED, `password rejected: ${why}`);
  if (typeof password !== 'string') throw rejected('not a string');
  if (password.length === 0) throw rejected('empty');
  // Cheap pre-check before normalising, so a megabyte string costs nothing.
  if (password.length > MAX_PASSWORD_BYTES) throw rejected(`longer than ${MAX_PASSWORD_BYTES} bytes`);
  // NIST SP 800-63B 5.1.1.2: normalise so the same password typed on different keyboards matches.
  const bytes = Buffer.from(password.normalize('NFKC'), 'utf8');
  if (bytes.length > MAX_PASSWORD_BYTES) throw rejected(`longer than ${MAX_PASSWORD_BYTES} bytes`);
  return bytes;
}

function derive(input: Buffer, salt: Buffer, keyLength: number, { N, r, p }: ScryptParams): Promise<Buffer> {
  // Node's default maxmem (32 MiB) is exactly 128*N*r at the default cost; give headroom.
  const options: ScryptOptions = { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(input, salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

let dummy: Promise<ParsedPasswordHash> | undefined;
function dummyHash(): Promise<ParsedPasswordHash> {
  dummy ??= derive(randomBytes(HASH_BYTES), randomBytes(SALT_BYTES), HASH_BYTES, DEFAULT_SCRYPT_PARAMS).then(
    (hash) => ({ params: DEFAULT_SCRYPT_PARAMS, salt: randomBytes(SALT_BYTES), hash }),
  );
  return dummy;
}

function assertParams({ N, r, p }: ScryptParams, fail: (why: string) => Error): void {
  const log2 = Math.log2(N);
  if (!Number.isInteger(N) || !Number.isInteger(log2) || log2 < MIN_LOG2_N || log2 > MAX_LOG2_N) {
    throw fail(`N must be a power of two in [2^${MIN_LOG2_N}, 2^${MAX_LOG2_N}]`);
  }
  if (!Number.isInteger(r) || r < 1 || r > MAX_R) throw fail(`r must be an integer in [1, ${MAX_R}]`);
  if (!Number.isInteger(p) || p < 1 || p > MAX_P) throw fail(`p must be an integer in [1, ${MAX_P}]`);
}

function decimal(s: string): number {
  return /^[1-9][0-9]{0,8}$/.test(s) ? Number(s) : NaN;
}

function b64(s: string, what: string, fail: (why: string) => Error): Buffer {
  const bytes = Buffer.from(s, 'base64url');
  // Buffer.from skips invalid characters silently; the round trip makes the encoding canonical.
  if (!/^[A-Za-z0-9_-]+$/.test(s) || bytes.toString('base64url') !== s) throw fail(`${what} is not base64url`);
  if (bytes.length < MIN_BYTES || bytes.length > MAX_BYTES) throw fail(`${what} must be ${MIN_BYTES}..${MAX_BYTES} bytes`);
  return bytes;
}
