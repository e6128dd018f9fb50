import { invariant } from './assert.js';
import { Inflights } from './inflights.js';

/**
 * How the leader currently replicates to one follower:
 * - probe: the follower's log position is unknown; send one append at a time and wait for the
 *   answer (or the next heartbeat) before sending another, backing `next` off on rejections.
 * - replicate: the follower is known to match up to `match`; stream appends optimistically
 *   (advance `next` on send) within the inflight window.
 * - snapshot: the follower needs a snapshot; send nothing until the host reports its outcome.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to be in the follower's (durable) log. */
  match = 0;
  /** Next index to send. Invariant: match < next. */
  next: number;
  state: ProgressState = 'probe';
  /** Index of the snapshot being sent while in snapshot state. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In probe state: an append is out and unanswered, so hold further appends. */
  probeSent = false;
  /** Leader tick of the latest heartbeat this follower acknowledged (lease reads). */
  heartbeatAckTick = -1;
  readonly inflights: Inflights;

  constructor(
    next: number,
    maxInflight: number,
    maxInflightBytes: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot, so probe from just after it.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** A success ack for `n`. Returns false if it is stale (not beyond `match`). */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    this.check();
    return updated;
  }

  private check(): void {
    invariant(this.match < this.next, () => `progress match ${this.match} not below next ${this.next}`);
  }

  /**
   * A rejection of the append whose previous index was `rejected`; `matchHint` is the leader's
   * best guess of the last index the follower can match. Returns false if the rejection is
   * stale (answers an append that is no longer the one the leader is waiting on).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      // Everything up to match is acknowledged, so a rejection at or below it is old news.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In probe state only the answer to the latest probe (previous index next - 1) counts, and
    // never one at or below match: the follower already acknowledged that entry, so such a
    // rejection is a reordered old message.
    if (this.next - 1 !== rejected || rejected <= this.match) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    this.check();
    return true;
  }

  /** Records that an append with `entries` entries (last index `lastIndex`) went out. */
  sentEntries(entries: number, lastIndex: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (entries > 0) {
        invariant(lastIndex >= this.next, 'an append must carry entries from next on');
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      invariant(false, 'sending entries in snapshot state');
    }
  }

  /** Whether the leader should hold appends to this follower (heartbeats still go out). */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
