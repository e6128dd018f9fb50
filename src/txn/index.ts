// Public surface of Shoal's distributed transactions: the barrier for participants, the saga
// orchestrator, two-phase commit. (Issue 6; DESIGN section 5.)
export type * from './types.js';
export * from './barrier/index.js';
export * from './saga/index.js';
export * from './twopc/index.js';
