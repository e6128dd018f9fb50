// Public surface of the barrier: participants record (gid, branch, op) in their own database in
// the same local transaction as the business change (DESIGN section 5).
export { decideBarrier, BARRIER_ORIGIN, BARRIER_REVERSE, type BarrierRows } from './decide.js';
export {
  BranchParamsSchema,
  assertBranchParams,
  isValidTxnId,
  BarrierErrorCode,
  BRANCH_COMPENSATED,
  branchCompensatedError,
} from './params.js';
export { barrierSqlite, migrateBarrierSqlite } from './sqlite.js';
