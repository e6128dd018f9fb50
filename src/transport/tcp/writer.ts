// Outbound frames of one connection, written once per event-loop turn: frames queued while the
// loop handles a burst of reads and resolutions go out as one buffer in one write, which is what
// keeps syscalls per call well below one under load.
import type { Socket } from 'node:net';

export class FrameWriter {
  private parts: Buffer[] = [];
  private bytes = 0;
  private scheduled = false;
  private open = false;

  /**
   * @param beforeWrite runs just before queued bytes reach the socket (the client marks the
   *   calls in the batch as written: from then on they may have executed).
   * @param onBlocked the socket's buffer is over its high-water mark (the peer reads slowly).
   */
  constructor(
    private readonly socket: Socket,
    private readonly beforeWrite?: () => void,
    private readonly onBlocked?: () => void,
  ) {}

  /** Bytes not yet acknowledged by the kernel: queued here plus buffered in the socket. */
  get pendingBytes(): number {
    return this.bytes + this.socket.writableLength;
  }

  /** Until opened (the client's connect), frames are held: nothing has left, so nothing ran. */
  markOpen(): void {
    this.open = true;
    if (this.bytes > 0) this.schedule();
  }

  enqueue(header: Buffer, body?: Buffer): void {
    this.parts.push(header);
    this.bytes += header.length;
    if (body !== undefined && body.length > 0) {
      this.parts.push(body);
      this.bytes += body.length;
    }
    if (this.open) this.schedule();
  }

  flush(): void {
    this.scheduled = false;
    if (!this.open || this.bytes === 0 || this.socket.destroyed) return;
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    this.beforeWrite?.();
    if (!this.socket.write(data)) this.onBlocked?.();
  }

  /** Forgets queued frames (the connection is gone); returns whether any were dropped. */
  discard(): boolean {
    const had = this.bytes > 0;
    this.parts = [];
    this.bytes = 0;
    return had;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushBound);
  }

  private readonly flushBound = (): void => this.flush();
}
