import { StatelessFeedback, type Endpoint, type Strategy } from './types.js';

/**
 * Exact rotation. It remembers the last endpoint it picked (by id and position) rather than a bare
 * counter, so when the list changes the rotation continues after that endpoint instead of jumping:
 * a removed endpoint's successor is next, and an added one gets its turn when the rotation
 * reaches it. Assumes discovery hands lists in a stable order (it sorts by id).
 */
export class RoundRobin extends StatelessFeedback implements Strategy {
  readonly name = 'round-robin';
  private lastId: string | undefined;
  private lastIndex = -1;

  pick<E extends Endpoint>(endpoints: readonly E[]): E | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    let next: number;
    if (this.lastId === undefined) {
      next = 0;
    } else if (endpoints[this.lastIndex]?.id === this.lastId) {
      next = (this.lastIndex + 1) % n;
    } else {
      const at = endpoints.findIndex((e) => e.id === this.lastId);
      // Gone: whatever now sits in its slot is its successor.
      next = at >= 0 ? (at + 1) % n : this.lastIndex % n;
    }
    const chosen = endpoints[next]!;
    this.lastId = chosen.id;
    this.lastIndex = next;
    return chosen;
  }
}
