// A small binary writer/reader: unsigned LEB128 varints for counts and revisions (exact up to
// 2^53), a sign byte for lease ids, length-prefixed bytes.
import { invariant } from '../errors.js';

export class Writer {
  private buf = Buffer.allocUnsafe(1 << 16);
  private pos = 0;

  uint(n: number): void {
    invariant(Number.isSafeInteger(n) && n >= 0, `unsigned safe integer, got ${n}`);
    this.ensure(8);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  int(n: number): void {
    invariant(Number.isSafeInteger(n), `safe integer, got ${n}`);
    this.ensure(1);
    this.buf[this.pos++] = n < 0 ? 1 : 0;
    this.uint(Math.abs(n));
  }

  bytes(b: Buffer): void {
    this.uint(b.length);
    this.raw(b);
  }

  raw(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

export class Reader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  uint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new Error('coord snapshot: varint too long');
    }
    if (!Number.isSafeInteger(n)) throw new Error('coord snapshot: integer out of range');
    return n;
  }

  int(): number {
    const negative = this.byte();
    if (negative > 1) throw new Error('coord snapshot: bad sign byte');
    const n = this.uint();
    return negative === 1 ? -n : n;
  }

  bytes(): Buffer {
    const len = this.uint();
    return this.raw(len);
  }

  raw(len: number): Buffer {
    if (this.pos + len > this.buf.length) throw new Error('coord snapshot: truncated');
    // Copy: the snapshot buffer may be large and short-lived; values must not pin it.
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return out;
  }

  get done(): boolean {
    return this.pos === this.buf.length;
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new Error('coord snapshot: truncated');
    return this.buf[this.pos++]!;
  }
}
