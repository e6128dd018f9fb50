// Process entry of one users instance: `node --import tsx src/shop/users/main.ts` (or the build).
// Reads SHOAL_COORD, SHOAL_PORT, SHOAL_DATA_DIR, … (see runFromEnv), prints the ready line, and
// stops gracefully on SIGTERM / SIGINT.
import { runFromEnv } from '../../index.js';
import { createUsersService } from './service.js';

try {
  await runFromEnv([createUsersService()]);
} catch (err) {
  process.stderr.write(`users: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
