// Refresh tokens on SQLite (better-sqlite3) in the gateway's data dir, so sessions survive a
// restart. Only SHA-256 hashes of tokens are stored. better-sqlite3 is synchronous and each
// method runs in one transaction, which is what makes rotate() atomic against a concurrent use.
import Database from 'better-sqlite3';
import type { RefreshTokenRecord, RefreshTokenStatus, RefreshTokenStore } from '../auth/index.js';

interface Row {
  token_hash: string;
  family_id: string;
  sub: string;
  scope: string;
  client_id: string | null;
  issued_at: number;
  expires_at: number;
  family_expires_at: number;
  status: RefreshTokenStatus;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  family_id TEXT NOT NULL,
  sub TEXT NOT NULL,
  scope TEXT NOT NULL,
  client_id TEXT,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  family_expires_at INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked'))
) STRICT;
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_expiry ON refresh_tokens (family_expires_at);
`;

export class SqliteRefreshTokenStore implements RefreshTokenStore {
  private readonly db: Database.Database;
  private readonly stmt: {
    get: Database.Statement<[string], Row>;
    insert: Database.Statement<[Row]>;
    markRotated: Database.Statement<[string]>;
    countActive: Database.Statement<[string], { n: number }>;
    revokeFamily: Database.Statement<[string]>;
    deleteExpired: Database.Statement<[number]>;
  };
  private readonly rotateTx: (tokenHash: string, next: Row) => boolean;

  /** `path` is the database file (created if missing), or ':memory:' for tests. */
  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: a rotation acknowledged to the client survives a power cut, so the old token stays dead.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.stmt = {
      get: this.db.prepare('SELECT * FROM refresh_tokens WHERE token_hash = ?'),
      insert: this.db.prepare(
        `INSERT INTO refresh_tokens (token_hash, family_id, sub, scope, client_id, issued_at, expires_at, family_expires_at, status)
         VALUES (@token_hash, @family_id, @sub, @scope, @client_id, @issued_at, @expires_at, @family_expires_at, @status)`,
      ),
      markRotated: this.db.prepare(`UPDATE refresh_tokens SET status = 'rotated' WHERE token_hash = ? AND status = 'active'`),
      countActive: this.db.prepare(`SELECT COUNT(*) AS n FROM refresh_tokens WHERE family_id = ? AND status = 'active'`),
      revokeFamily: this.db.prepare(`UPDATE refresh_tokens SET status = 'revoked' WHERE family_id = ? AND status <> 'revoked'`),
      deleteExpired: this.db.prepare('DELETE FROM refresh_tokens WHERE family_expires_at <= ?'),
    };
    this.rotateTx = this.db.transaction((tokenHash: string, next: Row): boolean => {
      const current = this.stmt.get.get(tokenHash);
      if (current === undefined || current.status !== 'active') return false;
      if (current.family_id !== next.family_id) throw new Error('assertion: rotation stays within a family');
      if (this.stmt.markRotated.run(tokenHash).changes !== 1) throw new Error('assertion: an active token is marked rotated exactly once');
      this.stmt.insert.run(next);
      return true;
    });
  }

  async get(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const row = this.stmt.get.get(tokenHash);
    return row === undefined ? undefined : fromRow(row);
  }

  async insert(record: RefreshTokenRecord): Promise<void> {
    this.stmt.insert.run(toRow(record));
  }

  async rotate(tokenHash: string, next: RefreshTokenRecord): Promise<boolean> {
    return this.rotateTx(tokenHash, toRow(next));
  }

  async revokeFamily(familyId: string): Promise<number> {
    return this.db.transaction(() => {
      const { n } = this.stmt.countActive.get(familyId)!;
      this.stmt.revokeFamily.run(familyId);
      return n;
    })();
  }

  async deleteExpired(now: number): Promise<number> {
    return this.stmt.deleteExpired.run(now).changes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toRow(record: RefreshTokenRecord): Row {
  return {
    token_hash: record.tokenHash,
    family_id: record.familyId,
    sub: record.sub,
    scope: JSON.stringify(record.scope),
    client_id: record.clientId ?? null,
    issued_at: record.issuedAt,
    expires_at: record.expiresAt,
    family_expires_at: record.familyExpiresAt,
    status: record.status,
  };
}

function fromRow(row: Row): RefreshTokenRecord {
  return {
    tokenHash: row.token_hash,
    familyId: row.family_id,
    sub: row.sub,
    scope: JSON.parse(row.scope) as string[],
    clientId: row.client_id ?? undefined,
    issuedAt: row.issued_at,
    expiresAt: row.expires_at,
    familyExpiresAt: row.family_expires_at,
    status: row.status,
  };
}
