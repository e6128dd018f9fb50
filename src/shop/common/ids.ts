// Opaque ids that sort by creation time: prefix + 10 base32 characters of milliseconds + 16 of
// a random 80-bit number (ULID's layout, lowercase Crockford alphabet). The alphabet is in
// ascending ASCII order, so string order (SQLite's BINARY collation, JS `<`) is numeric order,
// which is what keyset paging over `id` relies on. Within one generator ids are strictly
// increasing even when the clock stands still or steps back.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;
const RANDOM_BITS = 80n;
const MAX_TIME = 2 ** 48 - 1;

export type IdPrefix = 'u_' | 'g_' | 'o_';

export interface IdSource {
  now?: () => number;
  /** n random bytes. */
  random?: (n: number) => Uint8Array;
}

export class IdGenerator {
  readonly prefix: IdPrefix;
  readonly #now: () => number;
  readonly #random: (n: number) => Uint8Array;
  #lastMs = -1;
  #lastRandom = 0n;

  constructor(prefix: IdPrefix, source: IdSource = {}) {
    this.prefix = prefix;
    this.#now = source.now ?? Date.now;
    this.#random = source.random ?? ((n) => randomBytes(n));
  }

  next(): string {
    let ms = Math.trunc(this.#now());
    if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_TIME) throw new RangeError(`clock out of range: ${ms}`);
    if (ms <= this.#lastMs) {
      ms = this.#lastMs;
      this.#lastRandom += 1n;
      if (this.#lastRandom >> RANDOM_BITS !== 0n) {
        // 2^80 ids in one millisecond cannot happen with a random start; move time on if it does.
        ms += 1;
        this.#lastRandom = randomBigInt(this.#random) >> 1n;
      }
    } else {
      this.#lastRandom = randomBigInt(this.#random);
    }
    this.#lastMs = ms;
    return this.prefix + encode(BigInt(ms), TIME_CHARS) + encode(this.#lastRandom, RANDOM_CHARS);
  }
}

function randomBigInt(random: (n: number) => Uint8Array): bigint {
  const bytes = random(10);
  if (bytes.length !== 10) throw new RangeError('random source returned the wrong length');
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function encode(value: bigint, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  if (value !== 0n) throw new RangeError('value does not fit');
  return out;
}

/** Shape check only: the id is opaque to callers, but a store may refuse garbage early. */
export function looksLikeId(prefix: IdPrefix, id: string): boolean {
  return id.length === prefix.length + TIME_CHARS + RANDOM_CHARS && id.startsWith(prefix) && /^[0-9a-hjkmnp-tv-z]+$/.test(id.slice(prefix.length));
}
