// Shoal's public entry point: what an application (such as src/shop/) imports. Everything an
// application needs is re-exported here; applications import nothing else from Shoal.
export { ShoalError, ErrorCode, isShoalError, type ShoalErrorJson } from './errors/index.js';
export { hashPassword, verifyPassword, needsRehash } from './auth/index.js';
export type {
  ActionDefinition,
  CallOptions,
  Caller,
  Context,
  EmitOptions,
  EventDefinition,
  ServiceDefinition,
  ServiceHandle,
  ServiceSchema,
} from './runtime/types.js';
export type { InstanceRecord } from './discovery/types.js';
