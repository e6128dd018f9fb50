// Process B of the transport bench: calls echo.echo on process A in a closed loop, with the same
// payload, warm-up and output lines as the Moleculer anchor's client.js.
//   node --import tsx bench/transport/client.ts <endpointUrl> [durationSec=10] [concurrencies=1,16,128] [label]
import { runLoad } from './load.js';
import { shoalModule } from './shoal-build.js';

const { createTransportClient } = (await import(shoalModule('transport/index'))) as typeof import('../../src/transport/index.js');

const PAYLOAD = { a: 1, b: 'hello' };
const url = process.argv[2];
if (url === undefined) throw new Error('usage: client.ts <endpointUrl> [durationSec] [concurrencies] [label]');
const dur = Number(process.argv[3] ?? 10) * 1000;
const concs = (process.argv[4] ?? '1,16,128').split(',').map(Number);
const label = process.argv[5] ?? '';
const scenario = url.startsWith('http') ? 'shoal-http' : 'shoal-tcp';

const client = createTransportClient();
const r1 = await client.call(url, 'echo.echo', PAYLOAD);
const r2 = await client.call(url, 'echo.add', { a: 2, b: 3 });
if (JSON.stringify(r1) !== JSON.stringify(PAYLOAD) || r2 !== 5) throw new Error('sanity check failed');
// Every call carries a timeout, as the runtime's will (a timer per call; the anchor sets none).
const call = (): Promise<unknown> => client.call(url, 'echo.echo', PAYLOAD, undefined, { timeoutMs: 10_000 });
await runLoad(call, 16, 2000); // warm-up (JIT, connections), discarded
for (const c of concs) {
  const res = await runLoad(call, c, dur);
  console.log(JSON.stringify({ scenario, label, node: process.version, ...res }));
}
await client.close();
process.exit(0);
