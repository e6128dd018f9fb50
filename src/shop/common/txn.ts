// The shop's one seam to Shoal's transactions (src/txn: barrier, saga, 2PC) and to the
// coordinator client (src/recipes' no-blind-retry createCoordClient). DESIGN section 1 has shop/
// import Shoal only through src/index.ts; until that file re-exports these, they come in here and
// nowhere else, so moving to the public entry is a change of this file only.
import type BetterSqlite3 from 'better-sqlite3';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { parseCoordEndpoints } from '../../index.js';
import { createCoordClient } from '../../recipes/index.js';

import { migrateBarrierSqlite } from '../../txn/barrier/index.js';
import { migrateTwoPcSqlite, type InDoubtResolver, type InDoubtResolverOptions } from '../../txn/twopc/index.js';

export { BranchParamsSchema, barrierSqlite, branchCompensatedError, migrateBarrierSqlite, BRANCH_COMPENSATED } from '../../txn/barrier/index.js';
export {
  InDoubtResolver,
  TwoPhaseCoordinator,
  abortSqlite,
  commitSqlite,
  decisionForInDoubt,
  migrateTwoPcSqlite,
  prepareSqlite,
  type InDoubtResolverOptions,
} from '../../txn/twopc/index.js';
export { SagaOrchestrator, migrateSagaSqlite, type RecoveryLock } from '../../txn/saga/index.js';
export type { BarrierOutcome, BranchParams, SagaResult, SagaSpec, SagaStep, TwoPcBranch, TwoPcResult, TwoPcSpec, TxnDecision } from '../../txn/index.js';
export type { Etcd3 };

/** Creates src/txn's participant tables if missing: the barrier and the 2PC prepared log. */
export function migrateParticipantTables(sqlite: BetterSqlite3.Database): void {
  migrateBarrierSqlite(sqlite);
  migrateTwoPcSqlite(sqlite);
}

/**
 * A coordinator client from SHOAL_COORD (the same variable runFromEnv registers with), or
 * undefined when it is not set (in-process tests without a coordinator).
 */
export function coordClientFromEnv(env: NodeJS.ProcessEnv): Etcd3 | undefined {
  const value = env.SHOAL_COORD;
  if (value === undefined || value.trim() === '') return undefined;
  return createCoordClient(parseCoordEndpoints(value));
}

/** Branches prepared at least this long ago are in doubt (the coordinator's phase one is bounded by 10 s; a live one keeps its owner key and is waited for anyway). */
export const DEFAULT_IN_DOUBT_AFTER_MS = 5_000;

export interface ParticipantResolverOptions {
  coord?: Etcd3;
  env: NodeJS.ProcessEnv;
  instanceId: string;
  logger: Logger;
  inDoubt?: { olderThanMs?: number; intervalMs?: number };
  create(options: Omit<InDoubtResolverOptions, 'db' | 'onCommit' | 'onAbort'>): InDoubtResolver;
}

/**
 * Starts a participant's in-doubt resolver on the given coordinator client, or on one from
 * SHOAL_COORD; returns its stop (which also closes a client it made), or undefined without a
 * coordinator.
 */
export function startParticipantResolver(options: ParticipantResolverOptions): (() => Promise<void>) | undefined {
  const owned = options.coord === undefined ? coordClientFromEnv(options.env) : undefined;
  const coord = options.coord ?? owned;
  if (coord === undefined) {
    options.logger.warn('no coordinator (SHOAL_COORD unset): this instance does not resolve in-doubt 2PC branches');
    return undefined;
  }
  const resolver = options.create({
    coord,
    instanceId: options.instanceId,
    logger: options.logger,
    olderThanMs: options.inDoubt?.olderThanMs ?? DEFAULT_IN_DOUBT_AFTER_MS,
    ...(options.inDoubt?.intervalMs !== undefined ? { intervalMs: options.inDoubt.intervalMs } : {}),
  });
  resolver.start();
  return async () => {
    await resolver.stop();
    owned?.close();
  };
}
