import { invariant } from './assert.js';

/**
 * The append messages sent to one follower and not yet acknowledged, as a bounded FIFO of the
 * last index each carried. When it is full the leader stops sending (flow control) until
 * acknowledgements free slots. A byte budget bounds memory for large entries as well.
 */
export class Inflights {
  private readonly indexes: number[] = [];
  private readonly sizes: number[] = [];
  private bytes = 0;

  constructor(
    readonly capacity: number,
    readonly maxBytes = 0,
  ) {
    invariant(capacity > 0, 'inflight capacity must be positive');
  }

  get count(): number {
    return this.indexes.length;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  full(): boolean {
    return this.indexes.length >= this.capacity || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  add(lastIndex: number, bytes: number): void {
    invariant(!this.full(), 'adding to a full inflight window');
    const prev = this.indexes[this.indexes.length - 1];
    invariant(prev === undefined || lastIndex > prev, () => `inflight index ${lastIndex} not after ${prev}`);
    this.indexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Frees every message whose last index is <= `index` (acknowledged by a cumulative ack). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.indexes.length && this.indexes[n]! <= index) {
      this.bytes -= this.sizes[n]!;
      n++;
    }
    if (n > 0) {
      this.indexes.splice(0, n);
      this.sizes.splice(0, n);
    }
  }

  /** Frees the oldest message: a heartbeat reply proves the follower is alive and draining. */
  freeFirstOne(): void {
    if (this.indexes.length > 0) this.freeLE(this.indexes[0]!);
  }

  reset(): void {
    this.indexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}
