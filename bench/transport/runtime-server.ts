// Process A of the `shoal-runtime` scenario: `echo` (actions echo, add) defined with
// defineService and hosted by the runtime (runFromEnv → startServices: registered in the
// coordinator named by SHOAL_COORD, transport TCP + HTTP, admin port, metrics and spans on).
// Prints the runtime's `ready <id> <urls>` line; drains on SIGTERM.
//   SHOAL_COORD=127.0.0.1:PORT node --import tsx bench/transport/runtime-server.ts
import { z } from 'zod';
import { loadRuntime } from './shoal-build.js';

const { defineService, runFromEnv } = await loadRuntime();
const echo = defineService({
  name: 'echo',
  version: '1.0.0',
  actions: {
    // As the anchor's echo: no params schema, returns the params.
    echo: { handler: (ctx) => ctx.params },
    // As the anchor's add: params validated ({ a: number, b: number }).
    add: { params: z.object({ a: z.number(), b: z.number() }), handler: (ctx) => ctx.params.a + ctx.params.b },
  },
});
await runFromEnv([echo]);
