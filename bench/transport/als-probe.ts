// Probe for the runtime profile (bench/service notes): the bare transport client of client.ts,
// but with an AsyncLocalStorage enabled first, as the coordinator client (src/recipes/client.ts)
// enables one in every process that talks to the coordinator. On Node 20 that turns on promise
// hooks for the whole process. Compare its ops/s with client.ts against the same server.
//   node --import tsx bench/transport/als-probe.ts <endpointUrl> [durationSec] [concurrencies] [als=1]
import { AsyncLocalStorage } from 'node:async_hooks';
import { runLoad } from './load.js';
import { shoalModule } from './shoal-build.js';

const { createTransportClient } = (await import(shoalModule('transport/index'))) as typeof import('../../src/transport/index.js');
const url = process.argv[2]!;
const dur = Number(process.argv[3] ?? 5) * 1000;
const concs = (process.argv[4] ?? '128').split(',').map(Number);
const als = process.argv[5] !== '0';
if (als) {
  const storage = new AsyncLocalStorage<object>();
  await storage.run({}, async () => undefined); // enabled from here on, as after one coordinator call
}
const client = createTransportClient();
const call = (): Promise<unknown> => client.call(url, 'echo.echo', { a: 1, b: 'hello' }, undefined, { timeoutMs: 10_000 });
await runLoad(call, 16, 2000);
for (const c of concs) console.log(JSON.stringify({ scenario: als ? 'shoal-tcp+als' : 'shoal-tcp', ...(await runLoad(call, c, dur)) }));
await client.close();
process.exit(0);
