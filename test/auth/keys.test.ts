import { mkdtemp, readFile, rm, stat, chmod, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuthErrorCode,
  createIssuer,
  createVerifier,
  generateSigningKey,
  jwkThumbprint,
  KeyRing,
  loadKeyRing,
  loadOrCreateKeyRing,
  saveKeyRing,
  type KeyRingFile,
} from '../../src/auth/index.js';
import { AUDIENCE, FakeClock, ISSUER, rejectionOf } from './support.js';

describe('signing keys and the key ring', () => {
  it('names each key by its RFC 7638 thumbprint', async () => {
    for (const alg of ['EdDSA', 'ES256'] as const) {
      const key = generateSigningKey(alg, 0);
      expect(key.kid).toBe(await calculateJwkThumbprint(key.publicJwk));
      expect(key.kid).toBe(jwkThumbprint(key.publicJwk));
      expect(key.publicJwk).toMatchObject({ kid: key.kid, alg, use: 'sig' });
    }
    expect(generateSigningKey('EdDSA', 0).publicJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    expect(generateSigningKey('ES256', 0).publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(() => generateSigningKey('HS256' as never, 0)).toThrow(TypeError);
  });

  it('publishes a JWK Set with no private parts, and never serialises private keys by accident', () => {
    const ring = KeyRing.generate();
    ring.rotate();
    const jwks = ring.jwks();
    expect(jwks.keys).toHaveLength(2);
    expect(jwks.keys[0]!.kid).toBe(ring.active.kid);
    for (const k of jwks.keys) {
      expect(k).not.toHaveProperty('d');
      expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    }
    const d = ring.toFile().keys.map((k) => k.jwk.d);
    expect(d.every((v) => typeof v === 'string' && v.length > 20)).toBe(true);
    // What a logger would print.
    const logged = JSON.stringify({ ring, key: ring.active });
    for (const secret of d) expect(logged).not.toContain(secret);
    expect(logged).not.toContain('"d"');
  });

  it('keeps verifying old tokens after rotation until the old key is dropped', async () => {
    const clock = new FakeClock();
    const ring = KeyRing.generate({ now: clock.now });
    const issuer = createIssuer({ issuer: ISSUER, audience: AUDIENCE, keyRing: ring, now: clock.now });
    const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, keyRing: ring, now: clock.now });

    const oldKid = ring.active.kid;
    const before = await issuer.issueAccessToken({ sub: 'u' }, { ttlSeconds: 3600 });
    clock.advanceSeconds(10);
    const newKey = ring.rotate();
    expect(newKey.kid).not.toBe(oldKid);
    expect(ring.active.kid).toBe(newKey.kid);
    const after = await issuer.issueAccessToken({ sub: 'u' }, { ttlSeconds: 3600 });
    expect(before.kid).toBe(oldKid);
    expect(after.kid).toBe(newKey.kid);

    // A resource server working from the published set sees both keys too.
    const remote = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: ring.jwks(), now: clock.now });
    for (const v of [verifier, remote]) {
      expect((await v.verify(before.token)).kid).toBe(oldKid);
      expect((await v.verify(after.token)).kid).toBe(newKey.kid);
    }

    expect(ring.list().find((e) => e.key.kid === oldKid)!.retiredAt).toBe(clock.ms);
    expect(ring.dropRetiredBefore(clock.ms - 1)).toEqual([]);
    expect(ring.dropRetiredBefore(clock.ms)).toEqual([oldKid]);
    expect(ring.get(oldKid)).toBeUndefined();
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([newKey.kid]);

    const err = await rejectionOf(verifier.verify(before.token));
    expect(err.code).toBe(AuthErrorCode.TOKEN_INVALID);
    expect(err.message).toBe('access token signed by an unknown key');
    const remoteAfterDrop = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: ring.jwks(), now: clock.now });
    expect((await rejectionOf(remoteAfterDrop.verify(before.token))).code).toBe(AuthErrorCode.TOKEN_INVALID);
    expect((await verifier.verify(after.token)).sub).toBe('u');
  });

  it('refuses to drop the active key or to add a key twice', () => {
    const ring = KeyRing.generate();
    expect(() => ring.drop(ring.active.kid)).toThrow(expect.objectContaining({ code: AuthErrorCode.KEY_INVALID }));
    expect(() => ring.rotate(ring.active)).toThrow(expect.objectContaining({ code: AuthErrorCode.KEY_INVALID }));
    const old = ring.active.kid;
    ring.rotate();
    expect(ring.drop(old)).toBe(true);
    expect(ring.drop(old)).toBe(false);
  });
});

describe('key files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-auth-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('saves with mode 0600 and reloads a ring that still verifies tokens issued before the restart', async () => {
    const clock = new FakeClock();
    const path = join(dir, 'keys.json');
    const ring = KeyRing.generate({ now: clock.now });
    const issuer = createIssuer({ issuer: ISSUER, audience: AUDIENCE, keyRing: ring, now: clock.now });
    const old = await issuer.issueAccessToken({ sub: 'u' });
    ring.rotate();
    const current = await issuer.issueAccessToken({ sub: 'u' });
    await saveKeyRing(path, ring);

    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['keys.json']);

    const restarted = await loadKeyRing(path, { now: clock.now });
    expect(restarted.active.kid).toBe(ring.active.kid);
    expect(restarted.list().map((e) => [e.key.kid, e.retiredAt])).toEqual(ring.list().map((e) => [e.key.kid, e.retiredAt]));
    const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, keyRing: restarted, now: clock.now });
    expect((await verifier.verify(old.token)).jti).toBe(old.jti);
    expect((await verifier.verify(current.token)).jti).toBe(current.jti);
    // And the restarted ring signs with the same key.
    const next = await createIssuer({ issuer: ISSUER, audience: AUDIENCE, keyRing: restarted, now: clock.now }).issueAccessToken({ sub: 'u' });
    expect(next.kid).toBe(current.kid);
  });

  it('round-trips ES256 rings', async () => {
    const path = join(dir, 'es.json');
    const ring = KeyRing.generate({ alg: 'ES256' });
    await saveKeyRing(path, ring);
    const loaded = await loadKeyRing(path);
    expect(loaded.active.kid).toBe(ring.active.kid);
    expect(loaded.rotate().alg).toBe('ES256');
  });

  it('refuses a key file others can read', async () => {
    const path = join(dir, 'keys.json');
    await saveKeyRing(path, KeyRing.generate());
    await chmod(path, 0o644);
    const err = await rejectionOf(loadKeyRing(path));
    expect(err.code).toBe(AuthErrorCode.KEY_INVALID);
    expect(err.message).toContain('chmod 600');
  });

  it('refuses tampered or malformed key files without quoting them', async () => {
    const path = join(dir, 'keys.json');
    const ring = KeyRing.generate();
    ring.rotate();
    const good = ring.toFile();
    const other = KeyRing.generate().toFile().keys[0]!.jwk;
    const variants: unknown[] = [
      { ...good, version: 2 },
      { ...good, activeKid: 'nope' },
      { ...good, keys: [] },
      // kid claims to be the thumbprint of another key
      { ...good, keys: [{ ...good.keys[0]!, jwk: { ...good.keys[0]!.jwk, kid: other.kid } }, good.keys[1]!] },
      // public part swapped for someone else's
      { ...good, keys: [{ ...good.keys[0]!, jwk: { ...good.keys[0]!.jwk, x: other.x } }, good.keys[1]!] },
      { ...good, keys: [{ ...good.keys[0]!, jwk: { ...good.keys[0]!.jwk, d: undefined } }, good.keys[1]!] },
      { ...good, keys: [{ ...good.keys[0]!, jwk: { ...good.keys[0]!.jwk, alg: 'ES256' } }, good.keys[1]!] },
      { ...good, keys: good.keys.map((k) => ({ createdAt: k.createdAt, jwk: k.jwk })) }, // two active keys
    ];
    for (const v of variants) {
      await writeFile(path, JSON.stringify(v), { mode: 0o600 });
      const err = await rejectionOf(loadKeyRing(path));
      expect(err.code, JSON.stringify(v).slice(0, 80)).toBe(AuthErrorCode.KEY_INVALID);
      for (const k of good.keys) expect(err.message).not.toContain(k.jwk.d);
    }
    await writeFile(path, `{"d": "${good.keys[0]!.jwk.d}"`, { mode: 0o600 });
    const err = await rejectionOf(loadKeyRing(path));
    expect(err.message).toBe('key file is not valid JSON');
    expect(err.cause).toBeUndefined();
  });

  it('loadOrCreate makes one ring and later calls, even concurrent ones, agree on it', async () => {
    const path = join(dir, 'keys.json');
    const rings = await Promise.all([loadOrCreateKeyRing(path), loadOrCreateKeyRing(path), loadOrCreateKeyRing(path)]);
    const onDisk = JSON.parse(await readFile(path, 'utf8')) as KeyRingFile;
    for (const r of rings) expect(r.active.kid).toBe(onDisk.activeKid);
    expect((await loadOrCreateKeyRing(path)).active.kid).toBe(onDisk.activeKid);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['keys.json']);
  });
});
