// Coordination recipes on the etcd v3 API (etcd3 client): they run unchanged on Shoal's
// coordinator and on real etcd. Start from createCoordClient: its fault handling never retries a
// write whose outcome is unknown (see client.ts).
export {
  createCoordClient,
  coordRetryPolicy,
  isIdempotentCall,
  isOutcomeAmbiguous,
  isOutcomeUnknown,
  OutcomeUnknownError,
  wasNeverSent,
  type CoordClientOptions,
  type RetryInfo,
} from './client.js';
export { AcquireTimeoutError, ContentionError, NotHolderError, SessionLostError } from './errors.js';
export {
  CONFIG_ROOT,
  COUNTERS_ROOT,
  ELECTIONS_ROOT,
  LOCKS_ROOT,
  configPrefix,
  counterKey,
  electionPrefix,
  lockPrefix,
  prefixEnd,
} from './keys.js';
export { Session, type SessionOptions } from './session.js';
export { acquireLock, withLock, HeldLock, type AcquireLockOptions } from './lock.js';
export {
  Election,
  ElectionObserver,
  Leadership,
  type CampaignOptions,
  type LeaderInfo,
} from './election.js';
export { Counter, type CounterOptions, type CounterValue } from './counter.js';
export {
  loadConfig,
  watchConfig,
  writeConfig,
  ConfigWatcher,
  type ConfigChange,
  type ConfigEntryChange,
  type ConfigErrorListener,
  type ConfigListener,
  type ConfigParser,
  type ConfigSnapshot,
  type WatchConfigOptions,
} from './config.js';
export { watchFrom, firstEvent, type ResumableWatch, type WatchHandlers, type WatchSpec } from './watch.js';
