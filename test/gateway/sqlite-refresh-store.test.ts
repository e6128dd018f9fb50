// The SQLite RefreshTokenStore against the auth core's refresh-token logic: rotation is atomic,
// reuse revokes the family, expired families are pruned, and everything survives a reopen.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { findActiveRefreshToken, issueRefreshToken, rotateRefreshToken, type RefreshTokenRecord } from '../../src/auth/index.js';
import { SqliteRefreshTokenStore } from '../../src/gateway/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shoal-refresh-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 0, 1);

test('issue, rotate, reuse detection and revocation, then the same state after reopening', async () => {
  const path = join(dir, 'a.db');
  let now = T0;
  const policy = { now: () => now, ttlSeconds: 3600, familyTtlSeconds: 7200 };
  const store = new SqliteRefreshTokenStore(path);
  const first = await issueRefreshToken(store, { sub: 'u1', scope: ['shop'] }, policy);
  const second = await rotateRefreshToken(store, first.token, policy);
  expect(second.record.familyId).toBe(first.record.familyId);
  expect((await store.get(first.record.tokenHash))!.status).toBe('rotated');
  const other = await issueRefreshToken(store, { sub: 'u1' }, policy);
  store.close();

  const reopened = new SqliteRefreshTokenStore(path);
  expect(await reopened.get(second.record.tokenHash)).toEqual(second.record);
  await expect(rotateRefreshToken(reopened, first.token, policy)).rejects.toMatchObject({ code: 'REFRESH_TOKEN_REUSED' });
  expect((await reopened.get(second.record.tokenHash))!.status).toBe('revoked');
  await expect(rotateRefreshToken(reopened, second.token, policy)).rejects.toMatchObject({ code: 'REFRESH_TOKEN_REVOKED' });
  expect(await findActiveRefreshToken(reopened, other.token, now)).toBeDefined();

  now += 7200 * 1000;
  expect(await reopened.deleteExpired(now)).toBe(3);
  expect(await reopened.get(other.record.tokenHash)).toBeUndefined();
  reopened.close();
  // Only hashes are stored.
  expect((await readFile(path)).includes(Buffer.from(first.token))).toBe(false);
});

test('rotate() is atomic: of two rotations of one token exactly one wins', async () => {
  const store = new SqliteRefreshTokenStore(':memory:');
  const policy = { now: () => T0 };
  const issued = await issueRefreshToken(store, { sub: 'u2' }, policy);
  const next = (hash: string): RefreshTokenRecord => ({ ...issued.record, tokenHash: hash });
  const results = await Promise.all([store.rotate(issued.record.tokenHash, next('h-a')), store.rotate(issued.record.tokenHash, next('h-b'))]);
  expect(results.filter(Boolean)).toHaveLength(1);
  expect(await store.revokeFamily(issued.record.familyId)).toBe(1);
  expect(await store.revokeFamily(issued.record.familyId)).toBe(0);
  await expect(store.rotate(issued.record.tokenHash, { ...next('h-c'), familyId: 'other' })).resolves.toBe(false);
  store.close();
});
