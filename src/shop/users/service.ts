// The users service: action definitions over a UsersStore opened at start. Handlers only
// translate; the store holds the logic. Nothing here logs params (they carry passwords).
import { defineService, type ServiceDefinition, type ServiceHandle } from '../../index.js';
import { serviceDbPath, storeClosed } from '../common/index.js';
import { startParticipantResolver, type Etcd3 } from '../common/txn.js';
import {
  AuthResult,
  AuthenticateParams,
  CreateUserParams,
  DebitBranchResult,
  PrepareDebitParams,
  FinishDebitParams,
  DebitParams,
  DepositParams,
  EnsureAdminParams,
  GetUserParams,
  RefundParams,
  SagaDebitParams,
  SagaRefundParams,
  User,
} from './schemas.js';
import { UsersStore, type UsersStoreOptions } from './store.js';

export const USERS_SERVICE = 'users';
export const USERS_VERSION = '1.0.0';

export interface UsersServiceOptions {
  /** Environment read at start: SHOAL_DATA_DIR, SHOP_ADMIN_EMAIL, SHOP_ADMIN_PASSWORD. */
  env?: NodeJS.ProcessEnv;
  /** Database file; default `<host.dataDir, i.e. SHOAL_DATA_DIR>/users.db`. */
  file?: string;
  /**
   * Coordinator client for the 2PC in-doubt resolver (owned by the caller); default: one from
   * SHOAL_COORD in env (closed at stop). Without either, no resolver runs.
   */
  coord?: Etcd3;
  /** In-doubt resolver: branches prepared this long ago are finished by the stored decision. */
  inDoubt?: { olderThanMs?: number; intervalMs?: number };
  store?: UsersStoreOptions;
}

export function createUsersService(options: UsersServiceOptions = {}): ServiceDefinition {
  const env = options.env ?? process.env;
  let store: UsersStore | undefined;
  let stopResolver: (() => Promise<void>) | undefined;
  const open = (): UsersStore => {
    if (!store) throw storeClosed(USERS_SERVICE);
    return store;
  };

  return defineService({
    name: USERS_SERVICE,
    version: USERS_VERSION,
    actions: {
      create: {
        description: 'Register a user (role user, empty wallet). EMAIL_TAKEN if the email is in use.',
        params: CreateUserParams,
        result: User,
        handler: (ctx) => open().create(ctx.params),
      },
      authenticate: {
        description: 'Check an email and password. INVALID_CREDENTIALS for an unknown email or a wrong password alike.',
        params: AuthenticateParams,
        result: AuthResult,
        // A read (the opportunistic re-hash is conditional and repeatable).
        idempotent: true,
        handler: (ctx) => open().authenticate(ctx.params),
      },
      get: {
        description: 'A user by id. NOT_FOUND if there is none.',
        params: GetUserParams,
        result: User,
        idempotent: true,
        handler: (ctx) => open().get(ctx.params),
      },
      deposit: {
        description:
          'Add integer cents to the wallet. With a requestId it is applied at most once: call with { idempotent: true } to let it be retried.',
        params: DepositParams,
        result: User,
        // Only a deposit with a requestId is safe to repeat; callers say so per call.
        idempotent: false,
        handler: (ctx) => open().deposit(ctx.params),
      },
      debit: {
        description:
          'Take integer cents from the wallet, at most once per requestId. INSUFFICIENT_FUNDS if the wallet holds less; IDEMPOTENCY_CONFLICT for a reused requestId with another amount; ALREADY_REFUNDED if that requestId was refunded.',
        params: DebitParams,
        result: User,
        // The required requestId makes a repeat a no-op.
        idempotent: true,
        handler: (ctx) => open().debit(ctx.params),
      },
      refund: {
        description:
          "Give back what the debit with this requestId took, once. Before its debit it records the refund, and that debit is then refused (ALREADY_REFUNDED).",
        params: RefundParams,
        result: User,
        idempotent: true,
        handler: (ctx) => open().refund(ctx.params),
      },
      sagaDebit: {
        description:
          'Saga step of an order: debit amount for branch (gid, branch), once, with the barrier in the same transaction. INSUFFICIENT_FUNDS refuses; BRANCH_COMPENSATED if the branch was compensated already.',
        params: SagaDebitParams,
        result: DebitBranchResult,
        idempotent: true,
        // The runtime parsed ctx.params with SagaDebitParams: the store does not parse them again.
        handler: (ctx) => open().sagaDebitParsed(ctx.params),
      },
      sagaRefund: {
        description: 'Compensation of sagaDebit: give back what the branch took, once; a no-op success if it never ran (and it never will).',
        params: SagaRefundParams,
        result: DebitBranchResult,
        idempotent: true,
        handler: (ctx) => open().sagaRefund(ctx.params),
      },
      ensureAdmin: {
        description: 'Create the admin account unless a user with this email exists (then it is returned unchanged).',
        params: EnsureAdminParams,
        result: User,
        idempotent: true,
        handler: (ctx) => open().ensureAdmin(ctx.params),
      },
      prepareDebit: {
        description: '2PC phase one of an order: take amount into a debit held for (gid, branch), durably. INSUFFICIENT_FUNDS refuses; BRANCH_COMPENSATED if the branch was aborted already.',
        params: PrepareDebitParams,
        result: DebitBranchResult,
        idempotent: true,
        handler: (ctx) => open().prepareDebit(ctx.params),
      },
      commitDebit: {
        description: '2PC commit: the held debit becomes final. Idempotent.',
        params: FinishDebitParams,
        result: DebitBranchResult,
        idempotent: true,
        handler: (ctx) => open().commitDebit(ctx.params),
      },
      abortDebit: {
        description: '2PC abort: give the held money back; a no-op success if the branch never prepared (and then it never will). Idempotent.',
        params: FinishDebitParams,
        result: DebitBranchResult,
        idempotent: true,
        handler: (ctx) => open().abortDebit(ctx.params),
      },
    },
    async started(host) {
      store ??= UsersStore.open(options.file ?? serviceDbPath(USERS_SERVICE, host.dataDir ?? env.SHOAL_DATA_DIR), options.store);
      try {
        await ensureAdminFromEnv(store, env, host.logger);
        const s = store;
        stopResolver = startParticipantResolver({
          coord: options.coord,
          env,
          instanceId: host.instanceId,
          logger: host.logger,
          inDoubt: options.inDoubt,
          create: (o) => s.inDoubtResolver(o),
        });
      } catch (err) {
        // A failed start gets no stopped() call: close here.
        const s = store;
        store = undefined;
        await s.close();
        throw err;
      }
    },
    async stopped() {
      const stop = stopResolver;
      stopResolver = undefined;
      await stop?.();
      const s = store;
      store = undefined;
      await s?.close();
    },
  });
}

/** The shop's first admin comes from SHOP_ADMIN_EMAIL / SHOP_ADMIN_PASSWORD (DESIGN.md 3.1). */
export async function ensureAdminFromEnv(store: UsersStore, env: NodeJS.ProcessEnv, logger: ServiceHandle['logger']): Promise<void> {
  const email = env.SHOP_ADMIN_EMAIL;
  const password = env.SHOP_ADMIN_PASSWORD;
  if (!email || !password) return;
  const admin = await store.ensureAdmin({ email, password, name: 'Admin' });
  if (admin.role === 'admin') logger.info({ userId: admin.id }, 'admin account present');
  else logger.warn({ userId: admin.id }, 'SHOP_ADMIN_EMAIL belongs to an ordinary user; left unchanged');
}
