// Public surface of Shoal's service runtime: define services, host them, call them, emit events.
// Other folders (gateway/, cli/, the public entry point) import only this file.
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
} from './types.js';
export { defineService, type ServiceSchemaInput } from './define.js';
export { startServices, type HostOptions, type ServiceHost, type RegistryLike } from './host.js';
export { connectBroker, type Broker, type BrokerOptions } from './broker.js';
export { runFromEnv, readEnv, readTraceSampleRatio, readyLine, parseCoordEndpoints, type EnvConfig } from './env.js';
export { CallPipeline, META_IDEMPOTENT, META_STRATEGY, type CallParent, type PipelineOptions, type PipelinePolicy } from './pipeline.js';
export { judge, mayRetry, type Verdict } from './policy.js';
export { fastParse, parseWithFastPath } from './fast-parse.js';
export { parseAction, EVENT_ACTION, type ActionName } from './names.js';
export type { EventsPolicy } from './events.js';
export {
  OutboxDispatcher,
  enqueueEvent,
  outboxRow,
  migrateEventTables,
  recordInInbox,
  type DispatcherOptions,
  type EventEnvelope,
  type InboxTable,
  type OutboxTable,
  type ShoalEventTables,
  type SubscriptionTable,
} from './outbox.js';
