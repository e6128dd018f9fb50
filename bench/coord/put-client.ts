// One client process of the multi-process put row (workload.ts multiProcessPuts): waits for its
// orders over IPC, runs a closed loop of puts with its own etcd3 client, and sends back the
// latencies it recorded after the warm-up.
import { Etcd3 } from 'etcd3';

export interface ClientStart {
  endpoints: string[];
  conc: number;
  warmupMs: number;
  durationMs: number;
  prefix: string;
}

export interface ClientReport {
  latencies: number[];
  errors: number;
  cpuPct: number;
}

const VALUE = Buffer.alloc(100, 'v');
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function run(o: ClientStart): Promise<ClientReport> {
  const client = new Etcd3({ hosts: o.endpoints });
  const latencies: number[] = [];
  let errors = 0;
  let recording = false;
  let stop = false;
  let seq = 0;
  const worker = async (): Promise<void> => {
    while (!stop) {
      const key = Buffer.from(o.prefix + seq++);
      const t0 = nowMs();
      try {
        await client.kv.put({ key, value: VALUE });
        if (recording) latencies.push(nowMs() - t0);
      } catch {
        if (recording) errors++;
      }
    }
  };
  const workers = Array.from({ length: o.conc }, () => worker());
  await delay(o.warmupMs);
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  recording = true;
  await delay(o.durationMs);
  recording = false;
  const cpu = process.cpuUsage(cpu0);
  const elapsed = nowMs() - t0;
  stop = true;
  await Promise.all(workers);
  client.close();
  return { latencies, errors, cpuPct: ((cpu.user + cpu.system) / 1e3 / elapsed) * 100 };
}

// Loaded (tsx compiles on start, which takes seconds on a busy machine): say so, so the parent's
// measured window starts only once every client process can send.
if (process.send !== undefined) {
  process.once('message', (m) => {
    void run(m as ClientStart).then((report) => process.send!(report, () => process.exit(0)));
  });
  process.send('ready');
}
