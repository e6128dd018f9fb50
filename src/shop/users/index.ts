// Public surface of the users service: the service definition, its store, and the zod schemas
// of its params and results (for the gateway's OpenAPI).
export { createUsersService, ensureAdminFromEnv, USERS_SERVICE, USERS_VERSION, type UsersServiceOptions } from './service.js';
export { UsersStore, type PasswordHashOptions, type UsersStoreOptions } from './store.js';
export { usersMigrations, type DebitState, type UsersDatabase } from './migrations.js';
export { debitIn, refundIn } from './debits.js';
export { abortDebitIn, branchRequestId, commitDebitIn, prepareDebitIn, refundHeld, sagaDebitIn, sagaRefundIn } from './branches.js';
export {
  AuthResult,
  AuthenticateParams,
  CreateUserParams,
  DebitBranchResult,
  DebitParams,
  DepositParams,
  EnsureAdminParams,
  FinishDebitParams,
  GetUserParams,
  MAX_DEBIT_CENTS,
  MAX_DEPOSIT_CENTS,
  MAX_WALLET_CENTS,
  PrepareDebitParams,
  RefundParams,
  RequestId,
  Role,
  SagaDebitParams,
  SagaRefundParams,
  User,
} from './schemas.js';
