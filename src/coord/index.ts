// The coordinator's pure core: the replicated state machine (MVCC key space + lease table), the
// lessor (expiry deadlines on the deciding node), and the watch hub. No I/O, clocks or timers.
export * from './types.js';
export * as etcdErrors from './errors.js';
export {
  CoordStateMachine,
  type CoordStateMachineOptions,
  type RevisionListener,
  type WatchHistory,
} from './state-machine.js';
export type { RevisionRecord } from './mvcc/store.js';
export type { HashKvResult } from './mvcc/hash.js';
export { checkDeleteRequest, checkPutRequest, checkRangeRequest, checkTxn, isReadOnlyTxn, MAX_TXN_OPS } from './mvcc/index.js';
export { DEFAULT_MIN_LEASE_TTL, Lessor, type LessorOptions, MAX_LEASE_TTL, newLeaseId } from './lease/index.js';
export {
  WatchHub,
  type WatchFilter,
  type WatchHubOptions,
  type WatchMessage,
  type WatchRequest,
  type WatchSink,
} from './watch/index.js';
export { validateCommand } from './validate-command.js';
