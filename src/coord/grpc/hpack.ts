// HPACK (RFC 7541) for the lean gRPC server: a decoder for the client's header blocks, and the
// server's own blocks encoded without the dynamic table.
//
// The decoder keeps the connection's dynamic table exactly as the client's encoder does, so every
// block must be decoded in order, including blocks of streams that are refused. Names and values
// are latin1 strings (one char per octet), so any octets survive. The server's blocks use only
// static-table names and literals "without indexing" and no Huffman coding: the client's table is
// never touched, which keeps the encoder stateless (and a few bytes per response do not matter
// on loopback compared with the CPU Huffman coding would cost).
import hpack from 'hpack.js';

export class HpackError extends Error {}

/** RFC 7541 Appendix A. Index 1 is STATIC[0]. */
const STATIC: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const ENTRY_OVERHEAD = 32;

/** A binary trie over the Huffman code (RFC 7541 Appendix B): node*2 + bit -> child; < 0: symbol. */
const huffmanTrie: Int32Array = (() => {
  const codes = (hpack as unknown as { huffman: { encode: Array<[number, number]> } }).huffman.encode;
  const trie = new Int32Array(2 * 2 * 257).fill(0);
  let nodes = 1;
  codes.forEach(([bits, code], sym) => {
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const slot = node * 2 + ((code >>> i) & 1);
      if (i === 0) trie[slot] = -1 - sym;
      else {
        if (trie[slot] === 0) trie[slot] = nodes++;
        node = trie[slot]!;
      }
    }
  });
  return trie;
})();

function huffmanDecode(buf: Buffer, start: number, end: number): string {
  let out = '';
  let node = 0;
  let depth = 0;
  let ones = true;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >>> b) & 1;
      const next = huffmanTrie[node * 2 + bit]!;
      depth++;
      ones &&= bit === 1;
      if (next < 0) {
        const sym = -1 - next;
        if (sym === 256) throw new HpackError('hpack: EOS in a Huffman string');
        out += String.fromCharCode(sym);
        node = 0;
        depth = 0;
        ones = true;
      } else if (next === 0) {
        throw new HpackError('hpack: invalid Huffman code');
      } else {
        node = next;
      }
    }
  }
  // Padding: at most 7 bits, all ones (a prefix of EOS).
  if (depth > 7 || !ones) throw new HpackError('hpack: invalid Huffman padding');
  return out;
}

/** Decodes one connection's header blocks, in order. */
export class HpackDecoder {
  /** Newest first. */
  private readonly table: Array<[string, string]> = [];
  private size = 0;
  private maxSize: number;
  private pos = 0;
  private buf: Buffer = Buffer.alloc(0);

  /** `limit`: the SETTINGS_HEADER_TABLE_SIZE this side announced (the encoder's ceiling). */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  /** Calls `onHeader` for every field of the block; throws HpackError on a malformed block. */
  decode(block: Buffer, onHeader: (name: string, value: string) => void): void {
    this.buf = block;
    this.pos = 0;
    let fields = 0;
    while (this.pos < block.length) {
      const b = block[this.pos]!;
      if (b & 0x80) {
        const [name, value] = this.entry(this.int(7));
        onHeader(name, value);
      } else if (b & 0x40) {
        const index = this.int(6);
        const name = index === 0 ? this.str() : this.entry(index)[0];
        const value = this.str();
        this.add(name, value);
        onHeader(name, value);
      } else if (b & 0x20) {
        if (fields > 0) throw new HpackError('hpack: table size update after a header field');
        const size = this.int(5);
        if (size > this.limit) throw new HpackError(`hpack: table size ${size} over the announced ${this.limit}`);
        this.maxSize = size;
        this.evict(0);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001): 4-bit prefix.
        const index = this.int(4);
        const name = index === 0 ? this.str() : this.entry(index)[0];
        onHeader(name, this.str());
      }
      fields++;
    }
    this.buf = Buffer.alloc(0);
  }

  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('hpack: index 0');
    if (index <= STATIC.length) return STATIC[index - 1]!;
    const e = this.table[index - STATIC.length - 1];
    if (e === undefined) throw new HpackError(`hpack: index ${index} is not in the table`);
    return e;
  }

  private add(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evict(size);
    if (size > this.maxSize) return; // Too big for the table: the table is now empty.
    this.table.unshift([name, value]);
    this.size += size;
  }

  /** Evicts oldest entries until `room` more octets fit. */
  private evict(room: number): void {
    while (this.table.length > 0 && this.size + room > this.maxSize) {
      const [n, v] = this.table.pop()!;
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
    }
  }

  private int(prefix: number): number {
    const buf = this.buf;
    const max = (1 << prefix) - 1;
    let value = buf[this.pos++]! & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= buf.length) throw new HpackError('hpack: truncated integer');
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw new HpackError('hpack: integer too large');
    }
    return value;
  }

  private str(): string {
    if (this.pos >= this.buf.length) throw new HpackError('hpack: truncated string');
    const huffman = (this.buf[this.pos]! & 0x80) !== 0;
    const len = this.int(7);
    const start = this.pos;
    const end = start + len;
    if (end > this.buf.length) throw new HpackError('hpack: string past the end of the block');
    this.pos = end;
    return huffman ? huffmanDecode(this.buf, start, end) : this.buf.toString('latin1', start, end);
  }
}

function intBytes(value: number, prefix: number, first: number): number[] {
  const max = (1 << prefix) - 1;
  if (value < max) return [first | value];
  const out = [first | max];
  value -= max;
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

function literal(value: string): Buffer {
  const bytes = Buffer.from(value, 'latin1');
  return Buffer.concat([Buffer.from(intBytes(bytes.length, 7, 0)), bytes]);
}

/**
 * A header field as a literal without indexing: with a static-table name index when the name is
 * in the static table, else with a literal name.
 */
export function encodeField(name: string, value: string): Buffer {
  const index = STATIC.findIndex(([n]) => n === name) + 1;
  if (index > 0) return Buffer.concat([Buffer.from(intBytes(index, 4, 0)), literal(value)]);
  return Buffer.concat([Buffer.from([0]), literal(name), literal(value)]);
}

/** `:status: 200` (static index 8). */
export const STATUS_200 = Buffer.from([0x88]);
