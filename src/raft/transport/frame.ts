// Length-prefixed frames on a byte stream: u32 LE payload length, then the payload.
import { ByteWriter, CodecError } from './bytes.js';

export const DEFAULT_MAX_FRAME_BYTES = 256 * 1024 * 1024;

/** Appends one frame to `w` whose payload is whatever `body` writes. */
export function writeFrame(w: ByteWriter, body: (w: ByteWriter) => void): void {
  const at = w.length;
  w.u32(0);
  body(w);
  w.patchU32(at, w.length - at - 4);
}

/**
 * Reassembles frames from stream chunks. Chunks are kept in a list and joined only once a
 * whole frame is present, so a large frame arriving in many chunks costs one copy, not many.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES) {}

  /** Feeds a chunk; calls `onFrame` with each complete payload (a view, not a copy). */
  push(chunk: Buffer, onFrame: (payload: Buffer) => void): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const head = this.chunks[0].length >= 4 ? this.chunks[0] : this.join();
      const length = head.readUInt32LE(0);
      if (length > this.maxFrameBytes) throw new CodecError(`frame of ${length} bytes exceeds ${this.maxFrameBytes}`);
      if (this.buffered < 4 + length) return;
      const buf = this.join();
      let pos = 0;
      while (buf.length - pos >= 4) {
        const len = buf.readUInt32LE(pos);
        if (len > this.maxFrameBytes) throw new CodecError(`frame of ${len} bytes exceeds ${this.maxFrameBytes}`);
        if (buf.length - pos - 4 < len) break;
        onFrame(buf.subarray(pos + 4, pos + 4 + len));
        pos += 4 + len;
      }
      this.chunks = pos < buf.length ? [buf.subarray(pos)] : [];
      this.buffered = buf.length - pos;
    }
  }

  private join(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0];
  }
}
