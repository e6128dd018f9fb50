// Process entry of the gateway: `node --import tsx src/gateway/main.ts` (or the build). Reads
// SHOAL_COORD, SHOAL_DATA_DIR, SHOAL_GATEWAY_PORT / PORT, SHOAL_HOST, SHOP_ADMIN_EMAIL /
// SHOP_ADMIN_PASSWORD and the rest (see run.ts), prints `gateway listening on <url>`, and drains
// on SIGTERM / SIGINT. With SHOAL_GATEWAY_WORKERS > 1 this process becomes a node:cluster primary
// (cluster-primary.ts) and the same file runs again in each worker (cluster-worker.ts).
import cluster from 'node:cluster';
import { runGatewayPrimary } from './cluster-primary.js';
import { runGatewayWorker } from './cluster-worker.js';
import { runGatewayFromEnv } from './run.js';
import { readWorkerCount } from './workers.js';

try {
  if (cluster.isWorker) {
    await runGatewayWorker();
  } else {
    const workers = readWorkerCount();
    if (workers > 1) await runGatewayPrimary(workers);
    else await runGatewayFromEnv();
  }
} catch (err) {
  process.stderr.write(`gateway: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
