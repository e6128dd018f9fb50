// The users database. STRICT tables: SQLite refuses a value of the wrong type instead of storing
// it (a REAL wallet, a TEXT amount). The CHECKs restate the store's invariants so no code path —
// including a future debit — can leave a negative wallet or an unbounded one.
import type { Migration } from '../common/index.js';
import { MAX_DEBIT_CENTS, MAX_DEPOSIT_CENTS, MAX_WALLET_CENTS } from './schemas.js';

export interface UsersTable {
  id: string;
  name: string;
  /** Lowercase; unique. */
  email: string;
  /** `scrypt$N$r$p$salt$hash`; never leaves the store. */
  password_hash: string;
  address: string;
  phone: string;
  /** Integer cents. */
  wallet: number;
  role: 'user' | 'admin';
  /** Unix milliseconds. */
  created_at: number;
}

/** One row per applied deposit that carried a requestId: what makes a repeated request a no-op. */
export interface DepositRequestsTable {
  user_id: string;
  request_id: string;
  amount: number;
  created_at: number;
}

/**
 * One row per debit requestId ever seen for a user, kept for good: 'debited' (money taken),
 * 'refunded' (taken, then given back), 'voided' (the refund came first: a tombstone, no amount,
 * that makes a late debit with this requestId a no-op refusal).
 */
export interface DebitRequestsTable {
  user_id: string;
  request_id: string;
  state: DebitState;
  /** Integer cents; null only when voided. */
  amount: number | null;
  created_at: number;
  updated_at: number;
}

export type DebitState = 'debited' | 'refunded' | 'voided';

export interface UsersDatabase {
  users: UsersTable;
  deposit_requests: DepositRequestsTable;
  debit_requests: DebitRequestsTable;
}

export const usersMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'users and deposit requests',
    statements: [
      `CREATE TABLE users (
        id            TEXT    NOT NULL PRIMARY KEY,
        name          TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        email         TEXT    NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 254 AND email = lower(email)),
        password_hash TEXT    NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
        address       TEXT    NOT NULL CHECK (length(address) <= 300),
        phone         TEXT    NOT NULL CHECK (length(phone) <= 32),
        wallet        INTEGER NOT NULL DEFAULT 0 CHECK (wallet BETWEEN 0 AND ${MAX_WALLET_CENTS}),
        role          TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
        created_at    INTEGER NOT NULL
      ) STRICT`,
      `CREATE TABLE deposit_requests (
        user_id    TEXT    NOT NULL REFERENCES users (id),
        request_id TEXT    NOT NULL CHECK (length(request_id) BETWEEN 1 AND 128),
        amount     INTEGER NOT NULL CHECK (amount BETWEEN 1 AND ${MAX_DEPOSIT_CENTS}),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, request_id)
      ) STRICT, WITHOUT ROWID`,
    ],
  },
  {
    version: 2,
    name: 'debit requests',
    statements: [
      `CREATE TABLE debit_requests (
        user_id    TEXT    NOT NULL REFERENCES users (id),
        request_id TEXT    NOT NULL CHECK (length(request_id) BETWEEN 1 AND 128),
        state      TEXT    NOT NULL CHECK (state IN ('debited', 'refunded', 'voided')),
        amount     INTEGER CHECK (amount BETWEEN 1 AND ${MAX_DEBIT_CENTS}),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL CHECK (updated_at >= created_at),
        CHECK ((state = 'voided') = (amount IS NULL)),
        PRIMARY KEY (user_id, request_id)
      ) STRICT, WITHOUT ROWID`,
      // The only legal change of a row: debited -> refunded, same amount. Anything else would let
      // a debit apply twice or a refund return money that was never taken.
      `CREATE TRIGGER debit_requests_transition BEFORE UPDATE ON debit_requests
      WHEN NOT (OLD.state = 'debited' AND NEW.state = 'refunded' AND NEW.amount IS OLD.amount
                AND NEW.user_id = OLD.user_id AND NEW.request_id = OLD.request_id)
      BEGIN SELECT RAISE(ABORT, 'debit_requests: only debited -> refunded is allowed'); END`,
      // Deposits sum a user's outstanding debits (the refunds that may still come back).
      `CREATE INDEX debit_requests_outstanding ON debit_requests (user_id, amount) WHERE state = 'debited'`,
    ],
  },
];
