// Process entry of one orders instance: `node --import tsx src/shop/orders/main.ts` (or the build).
// Reads SHOAL_COORD, SHOAL_PORT, SHOAL_DATA_DIR, … (see runFromEnv), prints the ready line, and
// stops gracefully on SIGTERM / SIGINT.
import { runFromEnv } from '../../index.js';
import { createOrdersService } from './service.js';

try {
  await runFromEnv([createOrdersService()]);
} catch (err) {
  process.stderr.write(`orders: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
