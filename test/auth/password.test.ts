import { describe, expect, it } from 'vitest';
import {
  AuthError,
  AuthErrorCode,
  DEFAULT_SCRYPT_PARAMS,
  MAX_PASSWORD_BYTES,
  hashPassword,
  needsRehash,
  parsePasswordHash,
  verifyPassword,
} from '../../src/auth/index.js';

// Cheap parameters for most tests; the default cost is exercised once below.
const FAST = { params: { N: 1024, r: 8, p: 1 } };

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<AuthError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return err as AuthError;
  }
  throw new Error('expected a rejection');
}

describe('password hashing', () => {
  it('round-trips with the default parameters and encodes them', async () => {
    const encoded = await hashPassword('correct horse battery staple');
    expect(encoded).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(parsePasswordHash(encoded).params).toEqual(DEFAULT_SCRYPT_PARAMS);
    expect(await verifyPassword('correct horse battery staple', encoded)).toBe(true);
    expect(needsRehash(encoded)).toBe(false);
  });

  it('rejects a wrong password and salts every hash', async () => {
    const a = await hashPassword('hunter2', FAST);
    const b = await hashPassword('hunter2', FAST);
    expect(a).not.toBe(b);
    expect(await verifyPassword('hunter2', a)).toBe(true);
    expect(await verifyPassword('hunter2', b)).toBe(true);
    expect(await verifyPassword('hunter3', a)).toBe(false);
    expect(await verifyPassword('Hunter2', a)).toBe(false);
  });

  it('normalises Unicode so composed and decomposed forms match', async () => {
    const composed = 'caf\u00e9';
    const decomposed = 'cafe\u0301';
    const encoded = await hashPassword(composed, FAST);
    expect(await verifyPassword(decomposed, encoded)).toBe(true);
  });

  it('returns false, after doing the work, when there is no stored hash', async () => {
    expect(await verifyPassword('anything', null)).toBe(false);
  });

  it('refuses empty, over-long and non-string passwords without echoing them', async () => {
    const empty = await rejection(hashPassword('', FAST));
    expect(empty.code).toBe(AuthErrorCode.PASSWORD_REJECTED);
    expect(empty.status).toBe(400);

    const secret = 'x'.repeat(MAX_PASSWORD_BYTES + 1);
    const long = await rejection(hashPassword(secret, FAST));
    expect(long.code).toBe(AuthErrorCode.PASSWORD_REJECTED);
    expect(long.message).not.toContain('xxxx');
    // Within the character limit but over the byte limit once encoded: 'é' is two UTF-8 bytes.
    expect((await rejection(hashPassword('\u00e9'.repeat(600), FAST))).code).toBe(AuthErrorCode.PASSWORD_REJECTED);
    expect((await rejection(hashPassword('x'.repeat(1_000_000), FAST))).code).toBe(AuthErrorCode.PASSWORD_REJECTED);
    expect(await hashPassword('x'.repeat(MAX_PASSWORD_BYTES), FAST)).toMatch(/^scrypt\$/);

    const stored = await hashPassword('right', FAST);
    expect((await rejection(verifyPassword('', stored))).code).toBe(AuthErrorCode.PASSWORD_REJECTED);
    expect((await rejection(verifyPassword(42 as unknown as string, stored))).code).toBe(AuthErrorCode.PASSWORD_REJECTED);
  });

  it('rejects malformed stored hashes with a message that quotes neither hash nor password', async () => {
    const good = await hashPassword('pw-under-test', FAST);
    const [, n, r, p, salt, hash] = good.split('$') as string[];
    const bad = [
      '',
      'plaintext',
      `bcrypt$${n}$${r}$${p}$${salt}$${hash}`,
      `scrypt$${n}$${r}$${p}$${salt}`,
      `scrypt$${n}$${r}$${p}$${salt}$${hash}$extra`,
      `scrypt$1000$${r}$${p}$${salt}$${hash}`, // N not a power of two
      `scrypt$512$${r}$${p}$${salt}$${hash}`, // N below the floor
      `scrypt$${2 ** 24}$${r}$${p}$${salt}$${hash}`, // N above the ceiling: would allocate gigabytes
      `scrypt$0${n}$${r}$${p}$${salt}$${hash}`, // leading zero
      `scrypt$${n}$0$${p}$${salt}$${hash}`,
      `scrypt$${n}$${r}$99$${salt}$${hash}`,
      `scrypt$${n}$${r}$${p}$${salt}!$${hash}`,
      `scrypt$${n}$${r}$${p}$${salt}$${hash}==`,
      `scrypt$${n}$${r}$${p}$AAAA$${hash}`, // salt too short
      `scrypt$${n}$${r}$${p}$${salt}$${'A'.repeat(200)}`, // hash too long
      `scrypt$${n}$${r}$${p}$${salt}$${hash}`.padEnd(1000, 'A'),
    ];
    for (const encoded of bad) {
      const err = await rejection(verifyPassword('pw-under-test', encoded));
      expect(err.code, encoded).toBe(AuthErrorCode.PASSWORD_HASH_MALFORMED);
      expect(err.status).toBe(500);
      expect(err.message).not.toContain('pw-under-test');
      if (salt !== undefined) expect(err.message).not.toContain(salt);
      expect((await rejection(() => needsRehash(encoded))).code).toBe(AuthErrorCode.PASSWORD_HASH_MALFORMED);
    }
  });

  it('says when a hash needs re-hashing with stronger parameters', async () => {
    const weak = await hashPassword('pw', FAST);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(weak, FAST.params)).toBe(false);
    expect(needsRehash(weak, { ...FAST.params, r: 16 })).toBe(true);
    expect(needsRehash(weak, { ...FAST.params, p: 2 })).toBe(true);
    // Parameters are read from the hash, so old weak hashes keep verifying after the default rises.
    expect(await verifyPassword('pw', weak)).toBe(true);
  });

  it('refuses to hash with out-of-range parameters', async () => {
    await expect(hashPassword('pw', { params: { N: 1000, r: 8, p: 1 } })).rejects.toThrow(TypeError);
    await expect(hashPassword('pw', { params: { N: 1024, r: 0, p: 1 } })).rejects.toThrow(TypeError);
  });
});
