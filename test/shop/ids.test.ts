import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IdGenerator, looksLikeId } from '../../src/shop/common/index.js';

describe('IdGenerator', () => {
  it('ids are strictly increasing in string order, whatever the clock does', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 44 }), { minLength: 1, maxLength: 200 }), (times) => {
        let i = 0;
        const ids = new IdGenerator('g_', { now: () => times[i++ % times.length]! });
        const out = times.map(() => ids.next());
        for (let k = 1; k < out.length; k++) expect(out[k - 1]! < out[k]!).toBe(true);
        for (const id of out) expect(looksLikeId('g_', id)).toBe(true);
      }),
    );
  });

  it('a later millisecond sorts after an earlier one across generators', () => {
    const a = new IdGenerator('u_', { now: () => 1_000 }).next();
    const b = new IdGenerator('u_', { now: () => 1_001 }).next();
    expect(a < b).toBe(true);
    expect(a).toMatch(/^u_[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it('carries into the time part when the random part overflows', () => {
    const ids = new IdGenerator('o_', { now: () => 5, random: (n) => new Uint8Array(n).fill(0xff) });
    const first = ids.next();
    const second = ids.next();
    expect(first < second).toBe(true);
    expect(second.slice(2, 12)).not.toBe(first.slice(2, 12));
  });
});
