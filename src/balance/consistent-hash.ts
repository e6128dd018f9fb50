import { HashRing, DEFAULT_VIRTUAL_NODES } from './hash-ring.js';
import { RoundRobin } from './round-robin.js';
import { StatelessFeedback, weightOf, type Endpoint, type PickContext, type Strategy } from './types.js';

export interface ConsistentHashOptions {
  virtualNodes?: number;
}

/**
 * Sends equal keys to the same endpoint while the set is unchanged, and moves only the keys of a
 * joining or leaving endpoint when it changes. The ring is rebuilt only when the set of
 * (id, weight) changes, not when discovery hands a new array with the same members. Calls without
 * a key fall back to round-robin.
 */
export class ConsistentHash extends StatelessFeedback implements Strategy {
  readonly name = 'consistent-hash';
  private readonly virtualNodes: number;
  private readonly fallback = new RoundRobin();
  private ring: HashRing | undefined;
  private signature = '';
  private lastList: readonly Endpoint[] | undefined;
  private byId = new Map<string, Endpoint>();
  /** Number of ring builds, for tests: proves unchanged sets do not rebuild. */
  rebuilds = 0;

  constructor(options: ConsistentHashOptions = {}) {
    super();
    this.virtualNodes = options.virtualNodes ?? DEFAULT_VIRTUAL_NODES;
  }

  pick<E extends Endpoint>(endpoints: readonly E[], ctx?: PickContext): E | undefined {
    if (endpoints.length === 0) return undefined;
    if (ctx?.key === undefined) return this.fallback.pick(endpoints);
    if (endpoints !== this.lastList) this.refresh(endpoints);
    const id = this.ring!.ownerOf(ctx.key);
    const chosen = id === undefined ? undefined : this.byId.get(id);
    if (chosen === undefined) throw new Error('consistent-hash: ring owner not in the endpoint list');
    return chosen as E;
  }

  private refresh(endpoints: readonly Endpoint[]): void {
    this.lastList = endpoints;
    this.byId = new Map(endpoints.map((e) => [e.id, e]));
    const signature = endpoints
      .map((e) => `${e.id}\u0000${weightOf(e)}`)
      .sort()
      .join('\u0001');
    if (signature === this.signature && this.ring !== undefined) return;
    this.ring = new HashRing(endpoints, this.virtualNodes);
    this.signature = signature;
    this.rebuilds++;
  }
}
