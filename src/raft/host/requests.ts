// Proposals and reads waiting for an answer. A proposal is recognised when applied by its
// envelope (this node, this incarnation, its sequence number), wherever it was forwarded; one
// made on the leader also remembers its log index, so a new leader overwriting that slot
// rejects it at once instead of at the timeout.
import { randomInt } from 'node:crypto';
import type { NodeId, ReadState } from '../types.js';
import { encodeEnvelope, type Envelope } from './envelope.js';
import { ProposalLostError, ProposalTimeoutError } from './errors.js';

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  deadline: number;
}

interface ProposalWaiter<R> extends Waiter<{ index: number; result: R }> {
  /** Where the entry went, when proposed on the leader. */
  index?: number;
}

const READ_CONTEXT_BYTES = 12;

export class PendingRequests<R> {
  /** Random per start, so entries proposed before a restart never match a new request. */
  readonly incarnation = randomInt(1, 2 ** 32);
  private seq = 0;
  private readonly proposals = new Map<number, ProposalWaiter<R>>();
  /** Leader-local proposals by the index they were appended at. */
  private readonly proposalAt = new Map<number, number>();
  private readonly reads = new Map<number, Waiter<{ index: number }>>();
  private readsWaiting: { index: number; seq: number }[] = [];

  constructor(
    private readonly self: NodeId,
    private readonly timeoutMs: number,
  ) {}

  /** Proposals made here and not yet answered. */
  get pendingProposals(): number {
    return this.proposals.size;
  }

  /**
   * `submit` hands the enveloped command to the core and returns the index it was appended at
   * if this node is the leader (undefined if it was forwarded); a throw rejects the proposal.
   */
  propose(command: Uint8Array, submit: (data: Uint8Array) => number | undefined): Promise<{ index: number; result: R }> {
    const seq = ++this.seq;
    const data = encodeEnvelope({ proposer: this.self, incarnation: this.incarnation, seq, command });
    return new Promise((resolve, reject) => {
      const waiter: ProposalWaiter<R> = { resolve, reject, deadline: Date.now() + this.timeoutMs };
      try {
        waiter.index = submit(data);
      } catch (err) {
        reject(err as Error);
        return;
      }
      if (waiter.index !== undefined) this.proposalAt.set(waiter.index, seq);
      this.proposals.set(seq, waiter);
    });
  }

  /** `submit` hands the read's context to the core; a throw rejects the read. */
  read(submit: (context: Uint8Array) => void): Promise<{ index: number }> {
    const seq = ++this.seq;
    const context = Buffer.alloc(READ_CONTEXT_BYTES);
    context.writeUInt32LE(this.incarnation, 0);
    context.writeUIntLE(seq, 4, 6);
    return new Promise((resolve, reject) => {
      try {
        submit(context);
      } catch (err) {
        reject(err as Error);
        return;
      }
      this.reads.set(seq, { resolve, reject, deadline: Date.now() + this.timeoutMs });
    });
  }

  /** Entry `index` was applied; `env` is its envelope (null for no-ops and conf changes). */
  applied(index: number, env: Envelope | null, result: R | undefined): void {
    let appliedSeq: number | null = null;
    if (env !== null && env.proposer === this.self && env.incarnation === this.incarnation) {
      appliedSeq = env.seq;
      const w = this.proposals.get(env.seq);
      if (w !== undefined) {
        this.proposals.delete(env.seq);
        if (w.index !== undefined) this.proposalAt.delete(w.index);
        w.resolve({ index, result: result as R });
      }
    }
    const localSeq = this.proposalAt.get(index);
    if (localSeq === undefined) return;
    this.proposalAt.delete(index);
    // A new leader put another entry in the slot this node's proposal was appended at.
    const w = localSeq === appliedSeq ? undefined : this.proposals.get(localSeq);
    if (w !== undefined) {
      this.proposals.delete(localSeq);
      w.reject(new ProposalLostError(index));
    }
  }

  /** Read indexes confirmed by the leader; each read is served once `applied` reaches it. */
  readStates(states: readonly ReadState[], applied: number): void {
    for (const rs of states) {
      const ctx = Buffer.from(rs.context.buffer, rs.context.byteOffset, rs.context.length);
      if (ctx.length !== READ_CONTEXT_BYTES || ctx.readUInt32LE(0) !== this.incarnation) continue;
      const seq = ctx.readUIntLE(4, 6);
      if (this.reads.has(seq)) this.readsWaiting.push({ index: rs.index, seq });
    }
    this.serveReads(applied);
  }

  serveReads(applied: number): void {
    if (this.readsWaiting.length === 0) return;
    const still: { index: number; seq: number }[] = [];
    for (const r of this.readsWaiting) {
      const w = this.reads.get(r.seq);
      if (w === undefined) continue;
      if (r.index <= applied) {
        this.reads.delete(r.seq);
        w.resolve({ index: r.index });
      } else {
        still.push(r);
      }
    }
    this.readsWaiting = still;
  }

  expire(now: number): void {
    // Maps iterate in insertion order, which is deadline order: stop at the first live one.
    for (const [seq, w] of this.proposals) {
      if (w.deadline > now) break;
      this.proposals.delete(seq);
      if (w.index !== undefined) this.proposalAt.delete(w.index);
      w.reject(new ProposalTimeoutError('proposal'));
    }
    for (const [seq, w] of this.reads) {
      if (w.deadline > now) break;
      this.reads.delete(seq);
      w.reject(new ProposalTimeoutError('read'));
    }
  }

  rejectAll(err: Error): void {
    for (const w of this.proposals.values()) w.reject(err);
    for (const w of this.reads.values()) w.reject(err);
    this.proposals.clear();
    this.proposalAt.clear();
    this.reads.clear();
    this.readsWaiting = [];
  }
}
