// The users service's business logic over its own database. Every method validates its input
// (the same zod schemas as the actions), and every money change is one conditional SQL statement
// (wallet ± amount only while the result stays in bounds) inside `ServiceDb.transaction`, next to
// the request row that makes it idempotent (debits.ts).
import { hashPassword, needsRehash, verifyPassword } from '../../index.js';
import {
  IdGenerator,
  ServiceDb,
  ShopErrorCode,
  isUniqueViolation,
  notFound,
  parseInput,
  shopError,
  syncQueries,
  type ServiceDbOptions,
} from '../common/index.js';
import { PUBLIC_COLUMNS, debitIn, outstandingDebits, refundIn, type PublicRow } from './debits.js';
import { usersMigrations, type UsersDatabase } from './migrations.js';
import { abortDebitIn, commitDebitIn, prepareDebitIn, refundHeld, sagaDebitIn, sagaDebitParsedIn, sagaRefundIn } from './branches.js';
import { InDoubtResolver, migrateParticipantTables, type InDoubtResolverOptions } from '../common/txn.js';
import {
  AuthenticateParams,
  CreateUserParams,
  DepositParams,
  EnsureAdminParams,
  GetUserParams,
  MAX_WALLET_CENTS,
  type AuthResult,
  type DebitBranchResult,
  type DebitParams,
  type FinishDebitParams,
  type PrepareDebitParams,
  type RefundParams,
  type SagaDebitParams,
  type SagaDebitParsed,
  type SagaRefundParams,
  type Role,
  type User,
} from './schemas.js';

/** scrypt cost options as hashPassword takes them (tests pass a cheap cost). */
export type PasswordHashOptions = NonNullable<Parameters<typeof hashPassword>[1]>;

export interface UsersStoreOptions extends ServiceDbOptions {
  /** Unix milliseconds; for created_at and ids. */
  now?: () => number;
  /** Cost of new hashes, and the target below which a verified hash is re-hashed. */
  hash?: PasswordHashOptions;
}

export class UsersStore {
  readonly db: ServiceDb<UsersDatabase>;
  readonly #now: () => number;
  readonly #ids: IdGenerator;
  readonly #hash: PasswordHashOptions;

  private constructor(db: ServiceDb<UsersDatabase>, options: UsersStoreOptions) {
    this.db = db;
    this.#now = options.now ?? Date.now;
    this.#ids = new IdGenerator('u_', { now: this.#now });
    this.#hash = options.hash ?? {};
  }

  static open(file: string, options: UsersStoreOptions = {}): UsersStore {
    const db = ServiceDb.open<UsersDatabase>(file, usersMigrations, options);
    try {
      // src/txn's own tables (CREATE IF NOT EXISTS): the barrier and the 2PC participant log.
      migrateParticipantTables(db.sqlite);
    } catch (err) {
      void db.close();
      throw err;
    }
    return new UsersStore(db, options);
  }

  async create(input: CreateUserParams): Promise<User> {
    const p = parseInput(CreateUserParams, input);
    // Cheap refusal before ~100 ms of scrypt; the UNIQUE constraint below settles races.
    if (await this.#findByEmail(p.email)) throw emailTaken(p.email);
    const passwordHash = await hashPassword(p.password, this.#hash);
    return this.#insert({ name: p.name, email: p.email, address: p.address, phone: p.phone, role: 'user' }, passwordHash);
  }

  /**
   * Same error, and about the same time, for an unknown email and a wrong password: an unknown
   * email is verified against a dummy hash of the default cost.
   */
  async authenticate(input: AuthenticateParams): Promise<AuthResult> {
    const invalid = (): Error => shopError(ShopErrorCode.INVALID_CREDENTIALS, 'invalid email or password');
    const parsed = AuthenticateParams.safeParse(input);
    if (!parsed.success) throw invalid();
    const { password } = parsed.data;
    const email = parsed.data.email.trim().toLowerCase();
    const row = await this.db.kysely
      .selectFrom('users')
      .select(['id', 'email', 'role', 'password_hash'])
      .where('email', '=', email)
      .executeTakeFirst();
    const ok = await verifyPassword(password, row?.password_hash ?? null);
    if (!row || !ok) throw invalid();
    if (needsRehash(row.password_hash, this.#hash.params)) {
      const upgraded = await hashPassword(password, this.#hash);
      // Conditional on the hash we verified, so a concurrent password change is not undone.
      await this.db.kysely
        .updateTable('users')
        .set({ password_hash: upgraded })
        .where('id', '=', row.id)
        .where('password_hash', '=', row.password_hash)
        .execute();
    }
    return { id: row.id, email: row.email, role: row.role };
  }

  async get(input: GetUserParams): Promise<User> {
    const { id } = parseInput(GetUserParams, input);
    const row = await this.db.kysely.selectFrom('users').select(PUBLIC_COLUMNS).where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound('user', id);
    return toUser(row);
  }

  /**
   * Adds `amount` cents to the wallet. With a requestId the deposit is applied at most once per
   * (user, requestId): a repeat returns the user as it is now; a repeat with another amount is
   * refused (IDEMPOTENCY_CONFLICT) rather than silently ignored.
   */
  async deposit(input: DepositParams): Promise<User> {
    const { id, amount, requestId } = parseInput(DepositParams, input);
    const now = this.#now();
    const k = this.db.kysely;
    return await this.db.transaction((q) => {
      if (requestId !== undefined) {
        const prior = q.first(
          k.selectFrom('deposit_requests').select('amount').where('user_id', '=', id).where('request_id', '=', requestId),
        );
        if (prior) {
          if (prior.amount !== amount) {
            throw shopError(ShopErrorCode.IDEMPOTENCY_CONFLICT, 'requestId already used for a deposit of another amount', {
              requestId,
            });
          }
          const current = q.first(k.selectFrom('users').select(PUBLIC_COLUMNS).where('id', '=', id));
          if (!current) throw new Error(`invariant: deposit request for missing user ${id}`);
          return toUser(current);
        }
      }
      // Room is kept for every outstanding debit, so a refund (a compensation, which must not
      // fail) can always give the money back under the ceiling.
      const room = MAX_WALLET_CENTS - amount - outstandingDebits(q, k, id);
      const updated = q.first(
        k
          .updateTable('users')
          .set((eb) => ({ wallet: eb('wallet', '+', amount) }))
          .where('id', '=', id)
          .where('wallet', '<=', room)
          .returning(PUBLIC_COLUMNS),
      );
      if (!updated) {
        const exists = q.first(k.selectFrom('users').select('id').where('id', '=', id));
        if (!exists) throw notFound('user', id);
        throw shopError(ShopErrorCode.WALLET_LIMIT, `deposit would exceed the wallet limit of ${MAX_WALLET_CENTS} cents`);
      }
      if (requestId !== undefined) {
        q.run(k.insertInto('deposit_requests').values({ user_id: id, request_id: requestId, amount, created_at: now }));
      }
      return toUser(updated);
    });
  }

  /**
   * Takes `amount` cents from the wallet if it holds that much (INSUFFICIENT_FUNDS otherwise), at
   * most once per (user, requestId): a repeat returns the user as it is now; a repeat with another
   * amount is IDEMPOTENCY_CONFLICT; a debit whose requestId was refunded already, even before it
   * arrived, is ALREADY_REFUNDED and takes nothing.
   */
  async debit(input: DebitParams): Promise<User> {
    // Parsed inside the step; the clock is read before the write lock is taken.
    const now = this.#now();
    return toUser(await this.db.transaction((q) => debitIn(q, this.db.kysely, input, now)));
  }

  /**
   * Gives back exactly what the debit with this requestId took, once. With no such debit it
   * records that the refund came first, so that debit, if it ever arrives, is refused. Repeats
   * return the user as it is now.
   */
  async refund(input: RefundParams): Promise<User> {
    // Parsed inside the step; the clock is read before the write lock is taken.
    const now = this.#now();
    return toUser(await this.db.transaction((q) => refundIn(q, this.db.kysely, input, now)));
  }

  /** Saga action of an order: debit once per (gid, branch), barrier in the same transaction. */
  async sagaDebit(input: SagaDebitParams): Promise<DebitBranchResult> {
    const now = this.#now();
    return this.db.transaction((q) => sagaDebitIn(this.db.sqlite, q, this.db.kysely, input, now));
  }

  /** sagaDebit for params the runtime already parsed with SagaDebitParams (the action's schema). */
  async sagaDebitParsed(p: SagaDebitParsed): Promise<DebitBranchResult> {
    const now = this.#now();
    return this.db.transaction((q) => sagaDebitParsedIn(this.db.sqlite, q, this.db.kysely, p, now));
  }

  /** Saga compensation: refund what sagaDebit of this branch took, if it ran. */
  async sagaRefund(input: SagaRefundParams): Promise<DebitBranchResult> {
    const now = this.#now();
    return this.db.transaction((q) => sagaRefundIn(this.db.sqlite, q, this.db.kysely, input, now));
  }

  /** 2PC phase one: debit into a held debit (INSUFFICIENT_FUNDS refuses). */
  async prepareDebit(input: PrepareDebitParams): Promise<DebitBranchResult> {
    const now = this.#now();
    return this.db.transaction((q) => prepareDebitIn(this.db.sqlite, q, this.db.kysely, input, now));
  }

  /** 2PC commit of a prepared debit. */
  async commitDebit(input: FinishDebitParams): Promise<DebitBranchResult> {
    return this.db.transaction((q) => commitDebitIn(this.db.sqlite, q, this.db.kysely, input));
  }

  /** 2PC abort: gives the held money back (a no-op if never prepared). */
  async abortDebit(input: FinishDebitParams): Promise<DebitBranchResult> {
    const now = this.#now();
    return this.db.transaction((q) => abortDebitIn(this.db.sqlite, q, this.db.kysely, input, now));
  }

  /**
   * Finishes prepared debits whose coordinator went away, by the decision stored in the
   * coordinator (or a presumed abort). Commit has nothing to do beyond the prepared row.
   */
  inDoubtResolver(options: Omit<InDoubtResolverOptions, 'db' | 'onCommit' | 'onAbort'>): InDoubtResolver {
    return new InDoubtResolver({
      ...options,
      db: this.db.sqlite,
      onCommit: () => undefined,
      onAbort: (gid, branch, resources, db) => {
        refundHeld(syncQueries(db), this.db.kysely, gid, branch, resources, this.#now());
      },
    });
  }

  /** Creates the admin account unless some user already has this email (then returns it unchanged). */
  async ensureAdmin(input: EnsureAdminParams): Promise<User> {
    const p = parseInput(EnsureAdminParams, input);
    const existing = await this.#findByEmail(p.email);
    if (existing) return toUser(existing);
    const passwordHash = await hashPassword(p.password, this.#hash);
    try {
      return await this.#insert({ name: p.name, email: p.email, address: '', phone: '', role: 'admin' }, passwordHash);
    } catch (err) {
      // Another instance created it meanwhile (several start at once with the same env).
      if (!isUniqueViolation(err, 'users.email')) throw err;
      const winner = await this.#findByEmail(p.email);
      if (!winner) throw new Error(`invariant: ${p.email} taken but not found`, { cause: err });
      return toUser(winner);
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  async #findByEmail(email: string): Promise<PublicRow | undefined> {
    return this.db.kysely.selectFrom('users').select(PUBLIC_COLUMNS).where('email', '=', email).executeTakeFirst();
  }

  async #insert(
    fields: { name: string; email: string; address: string; phone: string; role: Role },
    passwordHash: string,
  ): Promise<User> {
    const row = { id: this.#ids.next(), ...fields, password_hash: passwordHash, wallet: 0, created_at: this.#now() };
    try {
      const inserted = await this.db.kysely.insertInto('users').values(row).returning(PUBLIC_COLUMNS).executeTakeFirstOrThrow();
      return toUser(inserted);
    } catch (err) {
      if (fields.role === 'user' && isUniqueViolation(err, 'users.email')) throw emailTaken(fields.email);
      throw err;
    }
  }
}

function emailTaken(email: string): Error {
  return shopError(ShopErrorCode.EMAIL_TAKEN, 'a user with this email already exists', { email });
}

function toUser(row: PublicRow): User {
  if (!Number.isSafeInteger(row.wallet) || row.wallet < 0) throw new Error(`invariant: wallet of ${row.id} is ${row.wallet}`);
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    address: row.address,
    phone: row.phone,
    wallet: row.wallet,
    role: row.role,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
