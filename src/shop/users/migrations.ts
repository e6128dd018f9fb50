// The users database. STRICT tables: SQLite refuses a value of the wrong type instead of storing
// it (a REAL wallet, a TEXT amount). The CHECKs restate the store's invariants so no code path —
// including a future debit — can leave a negative wallet or an unbounded one.
import type { Migration } from '../common/index.js';
import { MAX_DEPOSIT_CENTS, MAX_WALLET_CENTS } from './schemas.js';

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

export interface UsersDatabase {
  users: UsersTable;
  deposit_requests: DepositRequestsTable;
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
];
