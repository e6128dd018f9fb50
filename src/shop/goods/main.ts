// Process entry of one goods instance: `node --import tsx src/shop/goods/main.ts` (or the build).
// Reads SHOAL_COORD, SHOAL_PORT, SHOAL_DATA_DIR, … (see runFromEnv), prints the ready line, and
// stops gracefully on SIGTERM / SIGINT.
import { runFromEnv } from '../../index.js';
import { createGoodsService } from './service.js';

try {
  await runFromEnv([createGoodsService()]);
} catch (err) {
  process.stderr.write(`goods: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
