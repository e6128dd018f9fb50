// Public surface of the saga orchestrator (DESIGN section 5): steps in order, compensations in
// reverse until they succeed, a log in the orchestrating service's database, recovery under a lock.
export { SagaOrchestrator, SagaErrorCode, type SagaOrchestratorOptions, type SagaFinishedHandler } from './orchestrator.js';
export { migrateSagaSqlite, type SagaRow, type SagaStatus } from './log.js';
export { SAGA_RECOVERY_LOCK_PREFIX, type RecoveryLock, type RecoveryOptions } from './recovery.js';
export { classifyFailure, backoffDelay, type FailureKind } from './policy.js';
