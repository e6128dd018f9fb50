// State the gateway's workers share through the data dir, created once by the cluster primary
// before it forks, so N workers starting together never race to create it. (Both creations are
// safe under a race anyway — the key file appears by an atomic link, SQLite has a busy timeout —
// but one creator is simpler to reason about.)
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadOrCreateKeyRing } from '../auth/index.js';
import { KEY_FILE, REFRESH_DB_FILE } from './gateway.js';
import { SqliteRefreshTokenStore } from './sqlite-refresh-store.js';

export async function prepareSharedState(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // The same default algorithm createGateway generates with.
  await loadOrCreateKeyRing(join(dataDir, KEY_FILE), { alg: 'EdDSA' });
  new SqliteRefreshTokenStore(join(dataDir, REFRESH_DB_FILE)).close();
}
