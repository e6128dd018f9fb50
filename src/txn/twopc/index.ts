// Public surface of two-phase commit (presumed abort): the coordinator, the decision record in
// the coordinator store, and participant helpers for SQLite and PostgreSQL with their in-doubt
// resolvers. (Issue 6; DESIGN section 5.)
export { TwoPhaseCoordinator, isTransientBranchError, type TwoPhaseCoordinatorOptions, type TwoPcHooks } from './coordinator.js';
export { readDecision, presumeAbort, writeDecision, parseDecision } from './decision.js';
export { DECISIONS_ROOT, OWNERS_ROOT, decisionKey, ownerKey } from './keys.js';
export type { BackoffOptions } from './backoff.js';
export { decisionForInDoubt, type ResolvePass } from './in-doubt.js';
export {
  migrateTwoPcSqlite,
  prepareSqlite,
  commitSqlite,
  abortSqlite,
  preparedRow,
  inDoubtSqlite,
  type PrepareOutcome,
  type PreparedRow,
  type PreparedState,
} from './sqlite-participant.js';
export { InDoubtResolver, type InDoubtResolverOptions, type ResourceCallback } from './sqlite-resolver.js';
export { barrierPg, migrateBarrierPg, type PgQueryable } from './pg-barrier.js';
export {
  PgTwoPcParticipant,
  pgXid,
  XID_PREFIX,
  type PgAbortOutcome,
  type PgCommitOutcome,
  type PgInDoubtBranch,
  type PgTwoPcParticipantOptions,
} from './pg-participant.js';
export { PgInDoubtResolver, type PgInDoubtResolverOptions } from './pg-resolver.js';
