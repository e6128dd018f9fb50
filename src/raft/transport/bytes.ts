// Growable byte writer and bounds-checked reader with LEB128 varints for safe integers.
// Varints use arithmetic, not bit operators, because terms and indexes may exceed 2^31.

export class ByteWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 256) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(value: number): void {
    this.ensure(1);
    this.buf[this.pos++] = value;
  }

  u32(value: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(value, this.pos);
    this.pos += 4;
  }

  /** Overwrites a u32 written earlier (a length prefix). */
  patchU32(at: number, value: number): void {
    this.buf.writeUInt32LE(value, at);
  }

  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`codec: not a safe non-negative integer: ${value}`);
    this.ensure(8);
    while (value >= 0x80) {
      this.buf[this.pos++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buf[this.pos++] = value;
  }

  bytes(data: Uint8Array): void {
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** The bytes written so far (a view; the writer must not be reused afterwards). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

export class ByteReader {
  private pos: number;

  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos === this.end;
  }

  /** Position of the next unread byte. */
  get offset(): number {
    return this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw new CodecError('codec: truncated input');
    return this.buf[this.pos++];
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) throw new CodecError('codec: varint exceeds 2^53');
        return value;
      }
      scale *= 0x80;
    }
    throw new CodecError('codec: varint too long');
  }

  /** A view into the input (no copy): keeps the input alive as long as the view lives. */
  bytes(): Uint8Array {
    const length = this.varint();
    if (this.pos + length > this.end) throw new CodecError('codec: truncated bytes');
    const view = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.pos, length);
    this.pos += length;
    return view;
  }
}
