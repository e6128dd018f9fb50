// What the shop's services share: their SQLite database handling, id generation and error codes.
export {
  DEFAULT_BUSY_TIMEOUT_MS,
  ServiceDb,
  isUniqueViolation,
  serviceDbPath,
  syncQueries,
  type Migration,
  type ServiceDbOptions,
  type SyncQueries,
} from './sqlite.js';
export { IdGenerator, looksLikeId, type IdPrefix, type IdSource } from './ids.js';
export { ShopErrorCode, invalidArgument, notFound, shopError, storeClosed } from './errors.js';
export { parseInput } from './validate.js';
export { enqueueEventIn } from './outbox.js';
export { prepare, perKysely } from './prepared.js';
