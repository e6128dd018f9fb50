// Process B of the `shoal-runtime` scenario: connectBroker on the coordinator (watched discovery
// view, p2c-ewma balancing, circuit breaker, bulkhead, retry policy, a deadline per call, client
// span and call metrics) and `broker.call('echo.echo', …)` in the same closed loop as client.ts.
//   SHOAL_COORD=127.0.0.1:PORT node --import tsx bench/transport/runtime-client.ts [durationSec] [concurrencies] [label]
import { readFileSync } from 'node:fs';
import { loadRuntime } from './shoal-build.js';
import { runLoad } from './load.js';

const PAYLOAD = { a: 1, b: 'hello' };
const dur = Number(process.argv[2] ?? 10) * 1000;
const concs = (process.argv[3] ?? '1,16,128').split(',').map(Number);
const label = process.argv[4] ?? '';
const coord = process.env.SHOAL_COORD;
if (coord === undefined) throw new Error('SHOAL_COORD is not set');

const { connectBroker } = await loadRuntime();
const broker = await connectBroker({ coord, name: 'bench-client', logLevel: process.env.SHOAL_LOG_LEVEL });
// The server registered before this process started; the view may still be loading: wait (bounded).
const until = Date.now() + 30_000;
while (broker.view.instances('echo').length === 0) {
  if (Date.now() > until) throw new Error('no ready echo instance in the view after 30 s');
  await new Promise((r) => setTimeout(r, 50));
}
const r1 = await broker.call('echo.echo', PAYLOAD);
const r2 = await broker.call('echo.add', { a: 2, b: 3 });
if (JSON.stringify(r1) !== JSON.stringify(PAYLOAD) || r2 !== 5) throw new Error('sanity check failed');
// No timeoutMs per call: the pipeline's default deadline (10 s) applies to every call.
const call = (): Promise<unknown> => broker.call('echo.echo', PAYLOAD);
await runLoad(call, 16, 2000); // warm-up (JIT, connections), discarded
// CPU per call of both processes (this client from process.cpuUsage, the server from
// /proc/<pid>/stat when the bench passes its pid): steadier than ops/s on a shared machine.
const serverPid = process.env.SHOAL_BENCH_SERVER_PID;
const tickUs = 1e6 / 100; // USER_HZ: 100 on Linux
const serverCpuUs = (): number | undefined => {
  if (serverPid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * tickUs;
  } catch {
    return undefined;
  }
};
for (const c of concs) {
  const cpu0 = process.cpuUsage();
  const srv0 = serverCpuUs();
  const res = await runLoad(call, c, dur);
  const cpu = process.cpuUsage(cpu0);
  const srv1 = serverCpuUs();
  const perCall = (us: number): number => +(us / Math.max(1, res.requests)).toFixed(1);
  const cpuUsPerCall = { client: perCall(cpu.user + cpu.system), server: srv0 !== undefined && srv1 !== undefined ? perCall(srv1 - srv0) : undefined };
  console.log(JSON.stringify({ scenario: 'shoal-runtime', label, node: process.version, ...res, cpuUsPerCall }));
}
await broker.close();
process.exit(0);
