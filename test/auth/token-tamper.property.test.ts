import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthError } from '../../src/auth/index.js';
import { setup } from './support.js';

describe('property: a valid token survives no single-byte change', () => {
  it('any one character replaced, inserted or deleted makes verification fail', async () => {
    const { issuer, verifier } = setup();
    const { token } = await issuer.issueAccessToken({ sub: 'user-1', roles: ['admin'], scope: 'a b' });
    expect((await verifier.verify(token)).sub).toBe('user-1');

    // Mostly the token's own alphabet, where a change is hardest to notice, plus arbitrary bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    const char = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...alphabet) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) },
    );
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('replace' as const), at: fc.nat({ max: token.length - 1 }), c: char }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat({ max: token.length }), c: char }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat({ max: token.length - 1 }), c: fc.constant('') }),
    );

    await fc.assert(
      fc.asyncProperty(edit, async ({ kind, at, c }) => {
        const changed =
          kind === 'replace'
            ? token.slice(0, at) + c + token.slice(at + 1)
            : kind === 'insert'
              ? token.slice(0, at) + c + token.slice(at)
              : token.slice(0, at) + token.slice(at + 1);
        fc.pre(changed !== token);
        try {
          await verifier.verify(changed);
        } catch (err) {
          return err instanceof AuthError;
        }
        return false;
      }),
      { numRuns: 2000 },
    );
  });

  it('every position of the signature, including the last character, is significant', async () => {
    const { issuer, verifier } = setup();
    const { token } = await issuer.issueAccessToken({ sub: 'u' });
    // Exhaustive over the final character: its low bits are padding a lax decoder would ignore.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (const c of alphabet) {
      const changed = token.slice(0, -1) + c;
      if (changed === token) continue;
      await expect(verifier.verify(changed)).rejects.toBeInstanceOf(AuthError);
    }
  });
});
