// The seam between the API and consensus. The server proposes commands; a CommandLog decides
// their order, makes them durable (single node: the WAL; later: a Raft quorum) and applies them
// to the state machine in that order. Raft plugs in by implementing this interface.
import type { Command, CommandResult } from '../types.js';

export interface CommandLog {
  /**
   * Orders, persists and applies `cmd`. Resolves with the command's result once it is durable
   * and applied; rejects with the command's CoordError when applying it failed (the command
   * stays in the log and fails the same way on every replay), or with UNAVAILABLE when the
   * log stopped.
   */
  propose(cmd: Command): Promise<CommandResult>;
  /**
   * Waits until a linearizable read may be served: every command committed before the call has
   * been applied. Returns null when that already holds, so reads need not allocate a promise.
   */
  readBarrier(): Promise<void> | null;
  /** Index of the last applied command (etcd's raftAppliedIndex). */
  readonly appliedIndex: number;
  /** Index of the last command known durable (etcd's raftIndex). */
  readonly committedIndex: number;
  readonly term: number;
  /** Member id of the current leader; 0 when there is none. */
  readonly leaderId: number;
  /** Stops accepting proposals, lets in-flight ones finish, releases storage. */
  close(): Promise<void>;
}
