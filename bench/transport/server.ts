// Process A of the transport bench: an instance hosting `echo` (and `add`) on Shoal's transport,
// TCP and HTTP. Prints one JSON line with its URLs when ready; drains and exits on SIGTERM.
//   node --import tsx bench/transport/server.ts
import { shoalModule } from './shoal-build.js';

const { createTransportServer } = (await import(shoalModule('transport/index'))) as typeof import('../../src/transport/index.js');

const server = await createTransportServer({
  instanceId: `bench-server-${process.pid}`,
  // async, as runtime handlers are; the anchor's handler returns ctx.params the same way.
  handler: async (action, params) => {
    if (action === 'echo.echo') return params;
    if (action === 'echo.add') {
      const p = params as { a: number; b: number };
      return p.a + p.b;
    }
    throw new Error(`no action ${action}`);
  },
});
console.log(JSON.stringify({ ready: true, pid: process.pid, tcp: server.tcpUrl, http: server.httpUrl }));
const stop = (): void => {
  void server.drain({ timeoutMs: 5_000 }).then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
