/**
 * Two counters over the last `windowMs`, kept in `buckets` time slices so old events fall out as
 * time passes without storing each event. Resolution is one slice: an event is forgotten between
 * (buckets-1)/buckets and 1 window after it happened.
 */
export class SlidingWindow {
  private readonly sliceMs: number;
  private readonly epochs: Float64Array;
  private readonly a: Float64Array;
  private readonly b: Float64Array;

  constructor(
    readonly windowMs: number,
    readonly buckets = 10,
  ) {
    if (!(windowMs > 0) || !Number.isInteger(buckets) || buckets < 1) {
      throw new RangeError('sliding window: windowMs > 0 and an integer buckets >= 1 are required');
    }
    this.sliceMs = windowMs / buckets;
    this.epochs = new Float64Array(buckets).fill(-Infinity);
    this.a = new Float64Array(buckets);
    this.b = new Float64Array(buckets);
  }

  add(now: number, a: number, b: number): void {
    const epoch = Math.floor(now / this.sliceMs);
    const i = ((epoch % this.buckets) + this.buckets) % this.buckets;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.a[i] = 0;
      this.b[i] = 0;
    }
    this.a[i] += a;
    this.b[i] += b;
  }

  totals(now: number): { a: number; b: number } {
    const epoch = Math.floor(now / this.sliceMs);
    let a = 0;
    let b = 0;
    for (let i = 0; i < this.buckets; i++) {
      if (this.epochs[i]! > epoch - this.buckets) {
        a += this.a[i]!;
        b += this.b[i]!;
      }
    }
    return { a, b };
  }

  reset(): void {
    this.epochs.fill(-Infinity);
  }
}
