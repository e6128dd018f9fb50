// The gateway process for bench/gateway: src/gateway/main.ts's startup (readGatewayEnv →
// startGatewayFromEnv: broker on the coordinator, users.ensureAdmin, listen) with one change, the
// per-IP and per-user rate limits raised via createGateway's `rateLimit` option, because the
// gateway has no environment knob for them (600 requests/min per IP and 300 per user would
// answer nearly every benchmark request with 429). The limiter still runs on every request.
//   SHOAL_COORD=… SHOAL_GATEWAY_PORT=… node --import tsx bench/gateway/gateway-main.ts
import { shoalModule } from '../transport/shoal-build.js';

const { readGatewayEnv, startGatewayFromEnv } = (await import(shoalModule('gateway/index'))) as typeof import('../../src/gateway/index.js');
const LIMIT = 1_000_000_000;
const gateway = await startGatewayFromEnv(readGatewayEnv(), { rateLimit: { max: LIMIT, userMax: LIMIT } });
process.stdout.write(`gateway listening on ${gateway.url}\n`);
const onSignal = (): void => {
  gateway.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', onSignal);
process.once('SIGINT', onSignal);
