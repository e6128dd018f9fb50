// Process entry of the gateway: `node --import tsx src/gateway/main.ts` (or the build). Reads
// SHOAL_COORD, SHOAL_DATA_DIR, SHOAL_GATEWAY_PORT / PORT, SHOAL_HOST, SHOP_ADMIN_EMAIL /
// SHOP_ADMIN_PASSWORD and the rest (see run.ts), prints `gateway listening on <url>`, and drains
// on SIGTERM / SIGINT.
import { runGatewayFromEnv } from './run.js';

try {
  await runGatewayFromEnv();
} catch (err) {
  process.stderr.write(`gateway: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
