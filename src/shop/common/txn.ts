// The shop's one seam to Shoal's transactions (barrier, saga, 2PC) and to the coordinator client
// (the no-blind-retry createCoordClient), all from Shoal's public entry point (src/index.ts).
import type BetterSqlite3 from 'better-sqlite3';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { createCoordClient, migrateBarrierSqlite, migrateTwoPcSqlite, parseCoordEndpoints, type InDoubtResolver, type InDoubtResolverOptions } from '../../index.js';

export { BranchParamsSchema, barrierSqlite, branchCompensatedError, migrateBarrierSqlite, BRANCH_COMPENSATED } from '../../index.js';
export {
  InDoubtResolver,
  TwoPhaseCoordinator,
  abortSqlite,
  commitSqlite,
  decisionForInDoubt,
  migrateTwoPcSqlite,
  prepareSqlite,
  type InDoubtResolverOptions,
} from '../../index.js';
export { SagaOrchestrator, migrateSagaSqlite, type RecoveryLock } from '../../index.js';
export type { BarrierOutcome, BranchParams, SagaResult, SagaSpec, SagaStep, TwoPcBranch, TwoPcResult, TwoPcSpec, TxnDecision } from '../../index.js';
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
