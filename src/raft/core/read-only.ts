import type { Message, NodeId } from '../types.js';

/** A ReadIndex request waiting for a quorum to confirm the leader is still the leader. */
export interface PendingRead {
  req: Message;
  /** The leader's commit index when the request arrived: the read index. */
  index: number;
  acks: Map<NodeId, boolean>;
}

export function contextKey(ctx: Uint8Array | undefined): string {
  return ctx === undefined ? '' : Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('hex');
}

/**
 * Reads in 'safe' mode (thesis 6.4): the leader records its commit index, then sends a heartbeat
 * carrying the request context; once a quorum acknowledges that heartbeat, no newer leader can
 * have existed when the request arrived, so the recorded index is linearizable. Requests are
 * confirmed in arrival order, and confirming one confirms every earlier one.
 */
export class ReadOnlyQueue {
  private readonly pending = new Map<string, PendingRead>();
  private readonly queue: string[] = [];

  /** Returns false for a context already pending (the duplicate is ignored). */
  add(index: number, req: Message): boolean {
    const key = contextKey(req.context);
    if (this.pending.has(key)) return false;
    this.pending.set(key, { req, index, acks: new Map() });
    this.queue.push(key);
    return true;
  }

  ack(from: NodeId, ctx: Uint8Array | undefined): Map<NodeId, boolean> | undefined {
    const p = this.pending.get(contextKey(ctx));
    if (p === undefined) return undefined;
    p.acks.set(from, true);
    return p.acks;
  }

  /** Removes and returns every request up to and including the one with `ctx`. */
  confirmUpTo(ctx: Uint8Array | undefined): PendingRead[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const done = this.queue.splice(0, at + 1);
    return done.map((k) => {
      const p = this.pending.get(k)!;
      this.pending.delete(k);
      return p;
    });
  }

  lastContext(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1];
    return key === undefined ? undefined : this.pending.get(key)!.req.context;
  }

  get size(): number {
    return this.queue.length;
  }
}
