// Shoal's public entry point: what an application (such as src/shop/) imports. Everything an
// application needs is re-exported here; applications import nothing else from Shoal.
export { ShoalError, ErrorCode, isShoalError, type ShoalErrorJson } from './errors/index.js';
export { hashPassword, verifyPassword, needsRehash } from './auth/index.js';
export type {
  ActionDefinition,
  AnyKysely,
  AnyTransaction,
  CallOptions,
  Caller,
  Context,
  EmitOptions,
  EventContext,
  EventDefinition,
  ServiceDefinition,
  ServiceHandle,
  ServiceSchema,
} from './runtime/index.js';
export {
  defineService,
  startServices,
  connectBroker,
  runFromEnv,
  parseCoordEndpoints,
  enqueueEvent as enqueueOutboxEvent,
  outboxRow,
  migrateEventTables,
  type Broker,
  type BrokerOptions,
  type HostOptions,
  type ServiceHost,
  type PipelinePolicy,
  type CallParent,
  type ShoalEventTables,
} from './runtime/index.js';
export type { InstanceRecord } from './discovery/types.js';
// Distributed transactions (barrier, saga, two-phase commit) and the coordinator client they use.
export * from './txn/index.js';
export { createCoordClient, acquireLock, type CoordClientOptions } from './recipes/index.js';
