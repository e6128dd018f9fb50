import { describe, expect, it } from 'vitest';
import { ConsistentHash, DEFAULT_VIRTUAL_NODES, HashRing, murmur3, type Endpoint } from '../../src/balance/index.js';

const K = 100_000;
const keyHashes = Uint32Array.from({ length: K }, (_, i) => murmur3(`user-${i}`));
const nodes = (n: number): Endpoint[] => Array.from({ length: n }, (_, i) => ({ id: `10.0.0.${i + 1}:7000` }));

function owners(ring: HashRing): string[] {
  return Array.from(keyHashes, (h) => ring.ownerOfHash(h)!);
}

describe('murmur3', () => {
  it('matches the reference MurmurHash3_x86_32 vectors', () => {
    expect(murmur3('')).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('hello')).toBe(0x248bfa47);
    expect(murmur3('abc')).toBe(0xb3dd93fa);
    expect(murmur3('aaaa', 0x9747b28c)).toBe(0x5a97808a);
    expect(murmur3('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
    // Non-ASCII is hashed as UTF-8 (vectors from an independent implementation).
    expect(murmur3('héllo wörld ✓')).toBe(0x0e375ad8);
    expect(murmur3('日本')).toBe(0xc4d9f942);
  });
});

describe('consistent hashing with the default virtual nodes', () => {
  it(`keeps load stddev ≤ 10% of the mean and moved keys ≤ 1.2·K/n (n = 3..20, K = ${K})`, () => {
    let worstCv = 0;
    let worstJoin = 0;
    let worstLeave = 0;
    const rows: string[] = [];
    for (let n = 3; n <= 20; n++) {
      const eps = nodes(n);
      const before = owners(new HashRing(eps));
      const load = new Map<string, number>();
      for (const o of before) load.set(o, (load.get(o) ?? 0) + 1);
      expect(load.size).toBe(n);
      const mean = K / n;
      const sd = Math.sqrt([...load.values()].reduce((a, c) => a + (c - mean) ** 2, 0) / n);
      const cv = sd / mean;

      // Join: only keys that now belong to the newcomer may move.
      const newcomer = { id: `10.0.0.${n + 1}:7000` };
      const afterJoin = owners(new HashRing([...eps, newcomer]));
      let movedJoin = 0;
      let strayJoin = 0;
      for (let i = 0; i < K; i++) {
        if (afterJoin[i] !== before[i]) {
          movedJoin++;
          if (afterJoin[i] !== newcomer.id) strayJoin++;
        }
      }
      expect(strayJoin).toBe(0);
      // Leave: the worst case is the most loaded node leaving; only its keys may move.
      const heaviest = [...load.entries()].sort((a, b) => b[1] - a[1])[0]![0];
      const afterLeave = owners(new HashRing(eps.filter((e) => e.id !== heaviest)));
      let movedLeave = 0;
      let strayLeave = 0;
      for (let i = 0; i < K; i++) {
        if (afterLeave[i] !== before[i]) {
          movedLeave++;
          if (before[i] !== heaviest) strayLeave++;
        }
      }
      expect(strayLeave).toBe(0);
      const joinRatio = movedJoin / (K / n);
      const leaveRatio = movedLeave / (K / n);
      rows.push(`n=${n}: stddev/mean=${(cv * 100).toFixed(2)}% moved/(K/n) join=${joinRatio.toFixed(3)} leave=${leaveRatio.toFixed(3)}`);
      worstCv = Math.max(worstCv, cv);
      worstJoin = Math.max(worstJoin, joinRatio);
      worstLeave = Math.max(worstLeave, leaveRatio);
      expect(cv).toBeLessThanOrEqual(0.1);
      expect(movedJoin).toBeLessThanOrEqual((1.2 * K) / n);
      expect(movedLeave).toBeLessThanOrEqual((1.2 * K) / n);
    }
    console.log(`consistent hash, ${DEFAULT_VIRTUAL_NODES} virtual nodes, K=${K}\n  ${rows.join('\n  ')}`);
    console.log(
      `consistent hash worst: load stddev/mean=${(worstCv * 100).toFixed(2)}% ` +
        `moved/(K/n) join=${worstJoin.toFixed(3)} leave(heaviest)=${worstLeave.toFixed(3)}`,
    );
  });

  it('sends a key to the same endpoint and rebuilds the ring only when the set changes', () => {
    const ch = new ConsistentHash();
    const eps = nodes(5);
    const first = ch.pick(eps, { key: 'cart-42' });
    expect(eps).toContain(first);
    for (let i = 0; i < 10; i++) expect(ch.pick([...eps], { key: 'cart-42' })).toBe(first);
    // Same members in another order and new array objects: no rebuild.
    ch.pick([...eps].reverse(), { key: 'x' });
    expect(ch.rebuilds).toBe(1);
    ch.pick(eps.slice(1), { key: 'x' });
    expect(ch.rebuilds).toBe(2);
    ch.pick(eps.map((e) => ({ ...e, weight: e.id === eps[0]!.id ? 2 : 1 })), { key: 'x' });
    expect(ch.rebuilds).toBe(3);
  });

  it('does not depend on the order endpoints are listed in', () => {
    const eps = nodes(7);
    const a = new HashRing(eps);
    const b = new HashRing([...eps].reverse());
    for (let i = 0; i < 2_000; i++) expect(b.ownerOf(`k${i}`)).toBe(a.ownerOf(`k${i}`));
  });

  it('gives a weight-2 endpoint about twice the keys', () => {
    const ring = new HashRing([{ id: 'a', weight: 2 }, { id: 'b' }, { id: 'c' }]);
    let a = 0;
    for (const h of keyHashes) if (ring.ownerOfHash(h) === 'a') a++;
    expect(a / K).toBeGreaterThan(0.45);
    expect(a / K).toBeLessThan(0.55);
  });

  it('falls back to rotation when the call has no key', () => {
    const ch = new ConsistentHash();
    const eps = nodes(3);
    expect([ch.pick(eps), ch.pick(eps), ch.pick(eps), ch.pick(eps)].map((e) => e!.id)).toEqual(
      [0, 1, 2, 0].map((i) => eps[i]!.id),
    );
  });

  it('gives any positive weight at least one point (a tiny weight still owns keys)', () => {
    const ring = new HashRing([{ id: 'tiny', weight: 0.0001 }], 16);
    expect(ring.size).toBe(1);
    expect(ring.ownerOf('anything')).toBe('tiny');
  });

  it('rejects duplicate ids', () => {
    expect(() => new HashRing([{ id: 'a' }, { id: 'a' }])).toThrow(/duplicate/);
  });
});
