// Public surface of the users service: the service definition, its store, and the zod schemas
// of its params and results (for the gateway's OpenAPI).
export { createUsersService, ensureAdminFromEnv, USERS_SERVICE, USERS_VERSION, type UsersServiceOptions } from './service.js';
export { UsersStore, type PasswordHashOptions, type UsersStoreOptions } from './store.js';
export { usersMigrations, type UsersDatabase } from './migrations.js';
export {
  AuthResult,
  AuthenticateParams,
  CreateUserParams,
  DepositParams,
  EnsureAdminParams,
  GetUserParams,
  MAX_DEPOSIT_CENTS,
  MAX_WALLET_CENTS,
  Role,
  User,
} from './schemas.js';
