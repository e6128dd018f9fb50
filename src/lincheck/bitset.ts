// A fixed-size bitset with an incrementally maintained Zobrist hash, so the memo cache can hash
// "which operations are linearized" in O(1) per step.

export function mix32(x: number): number {
  // murmur3 finalizer: a cheap bijection with good avalanche.
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h);
}

export class Bitset {
  readonly words: Uint32Array;
  hash = 0;

  constructor(readonly size: number, words?: Uint32Array, hash = 0) {
    this.words = words ?? new Uint32Array((size + 31) >>> 5);
    this.hash = hash;
  }

  has(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  set(i: number): void {
    if (this.has(i)) throw new Error(`bitset: ${i} already set`);
    this.words[i >>> 5]! |= 1 << (i & 31);
    this.hash = (this.hash ^ mix32(i + 1)) >>> 0;
  }

  clear(i: number): void {
    if (!this.has(i)) throw new Error(`bitset: ${i} not set`);
    this.words[i >>> 5]! &= ~(1 << (i & 31));
    this.hash = (this.hash ^ mix32(i + 1)) >>> 0;
  }

  clone(): Bitset {
    return new Bitset(this.size, this.words.slice(), this.hash);
  }

  equals(o: Bitset): boolean {
    if (this.hash !== o.hash) return false;
    const a = this.words;
    const b = o.words;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
}
