// Invariant checks. A failed invariant is a bug in the core (or in the host's use of it), never
// an expected condition: it throws so a simulation stops at the first step that broke it.

export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(`raft invariant violated: ${message}`);
    this.name = 'RaftInvariantError';
  }
}

export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) throw new RaftInvariantError(typeof message === 'string' ? message : message());
}
