// The simulated network between nodes (and between clients and nodes). Every delivery is an
// event at a random delay, so messages reorder naturally; on top of that a message can be
// dropped, duplicated or held back for a long time, and directed links can be cut: cutting
// a→b but not b→a gives the asymmetric partitions that break naive failure detectors.

import type { EventQueue } from './event-queue.js';
import type { Prng } from './prng.js';

export interface NetworkFaults {
  drop: number;
  duplicate: number;
  /** Chance of a long delay (up to `longDelay`) instead of the normal one. */
  slow: number;
  minDelay: number;
  maxDelay: number;
  longDelay: number;
}

export const CALM: NetworkFaults = { drop: 0, duplicate: 0, slow: 0, minDelay: 1, maxDelay: 4, longDelay: 4 };

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  cut: number;
}

export class Network {
  faults: NetworkFaults = CALM;
  /** Directed links that are down, as `from * 1000 + to`. */
  private cutLinks = new Set<number>();
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, cut: 0 };

  constructor(
    private readonly queue: EventQueue,
    private readonly rng: Prng,
  ) {}

  cut(from: number, to: number): void {
    this.cutLinks.add(from * 1000 + to);
  }

  isCut(from: number, to: number): boolean {
    return this.cutLinks.has(from * 1000 + to);
  }

  heal(): void {
    this.cutLinks.clear();
  }

  /** Restores every link to and from `id`. */
  reconnect(id: number): void {
    for (const link of [...this.cutLinks]) {
      if (Math.floor(link / 1000) === id || link % 1000 === id) this.cutLinks.delete(link);
    }
  }

  /** Cuts `id` off from everyone in `others`, both ways. */
  isolate(id: number, others: number[]): void {
    for (const o of others) {
      if (o === id) continue;
      this.cut(id, o);
      this.cut(o, id);
    }
  }

  /** Partitions the nodes into groups; links across groups are cut both ways. */
  partition(groups: number[][]): void {
    for (const g of groups) for (const h of groups) if (g !== h) for (const a of g) for (const b of h) this.cut(a, b);
  }

  get cutCount(): number {
    return this.cutLinks.size;
  }

  private delay(): number {
    const f = this.faults;
    if (this.rng.chance(f.slow)) return this.rng.range(f.minDelay, Math.max(f.minDelay, f.longDelay));
    return this.rng.range(f.minDelay, f.maxDelay);
  }

  /**
   * Sends from `from` to `to`; `deliver` runs at arrival. Links are checked at send time AND at
   * arrival, so a partition also swallows what was already on the wire.
   */
  send(from: number, to: number, deliver: () => void, options: { duplicate: boolean } = { duplicate: true }): void {
    this.stats.sent++;
    if (this.isCut(from, to)) {
      this.stats.cut++;
      return;
    }
    if (this.rng.chance(this.faults.drop)) {
      this.stats.dropped++;
      return;
    }
    const copies = options.duplicate && this.rng.chance(this.faults.duplicate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      this.queue.after(this.delay(), () => {
        if (this.isCut(from, to)) {
          this.stats.cut++;
          return;
        }
        this.stats.delivered++;
        deliver();
      });
    }
  }
}
