import type { Clock } from '../../src/resilience/index.js';

/** A clock that moves only when told; `sleep` advances it at once and records the wait. */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private t = 0) {}

  now(): number {
    return this.t;
  }

  async sleep(ms: number): Promise<void> {
    if (!(ms >= 0)) throw new RangeError(`sleep(${ms})`);
    this.sleeps.push(ms);
    this.t += ms;
  }

  advance(ms: number): void {
    this.t += ms;
  }
}
