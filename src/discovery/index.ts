// Discovery: registry writes (an instance under a lease), the local watched view of every
// instance, and a DNS interface to that view. Other folders import only this file.
export type { InstanceRecord, Registration, ServiceView, ViewChange } from './types.js';
export { createRegistry, DEFAULT_TTL_SECONDS, type Registry, type RegistryOptions, type RegisterOptions } from './registry.js';
export type { ActiveRegistration } from './registration.js';
export { parseStoredRecord, type RegisterInput, type RecordPatch } from './record.js';
export type { WatchedServiceView, WatchViewOptions } from './view.js';
export { createDnsServer, type DnsServer, type DnsServerOptions } from './dns.js';
export { SERVICES_ROOT, recordKey } from './keys.js';
