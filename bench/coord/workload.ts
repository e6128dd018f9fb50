// The coordinator workload: the same etcd3-client operations against any etcd-v3-API server.
// Closed loop: C workers each keep exactly one request in flight; latency is what the client
// observes. Server CPU is read from /proc/<pid>/stat over the measured window, so the cost per
// operation can be compared even when the one Node client process is the bottleneck.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import type { ClientReport, ClientStart } from './put-client.js';

export interface Figures {
  server: string;
  scenario: string;
  conc: number;
  ops: number;
  errors: number;
  opsPerSec: number;
  p50ms: number;
  p99ms: number;
  /** Server CPU time per operation, microseconds (all server processes summed). */
  serverUsPerOp: number | null;
  /** Client process CPU, % of one core. */
  clientCpuPct: number;
}

export interface WorkloadOptions {
  server: string;
  endpoints: string[];
  pids: number[];
  durationMs: number;
  warmupMs: number;
  putConc: number[];
  getConc: number[];
  watchers: number;
  leases: number;
  /** Scenarios to run (put, get, watch, lease); all when absent. */
  scenarios?: ReadonlySet<string>;
  /** Client processes driving puts at concurrency >= 128 (one Node etcd3 client saturates near 5k req/s). */
  putProcs?: number;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux
const VALUE = Buffer.alloc(100, 'v');

function serverCpuTicks(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function closedLoop(
  opts: WorkloadOptions,
  scenario: string,
  conc: number,
  op: (worker: number, seq: number) => Promise<void>,
): Promise<Figures> {
  const latencies: number[] = [];
  let errors = 0;
  let recording = false;
  let stop = false;
  let seq = 0;
  let firstError: unknown = null;
  const worker = async (w: number): Promise<void> => {
    while (!stop) {
      const i = seq++;
      const t0 = nowMs();
      try {
        await op(w, i);
        if (recording) latencies.push(nowMs() - t0);
      } catch (err) {
        if (recording) errors++;
        firstError ??= err;
      }
    }
  };
  const workers = Array.from({ length: conc }, (_, w) => worker(w));
  await delay(opts.warmupMs);
  const cpu0 = process.cpuUsage();
  const ticks0 = serverCpuTicks(opts.pids);
  const t0 = nowMs();
  recording = true;
  await delay(opts.durationMs);
  recording = false;
  const elapsed = nowMs() - t0;
  const ticks = serverCpuTicks(opts.pids) - ticks0;
  const cpu = process.cpuUsage(cpu0);
  stop = true;
  await Promise.all(workers);
  if (errors > 0) console.error(`  ${opts.server} ${scenario} c=${conc}: ${errors} errors, first: ${String(firstError)}`);
  const sorted = Float64Array.from(latencies).sort();
  const ops = sorted.length;
  return {
    server: opts.server,
    scenario,
    conc,
    ops,
    errors,
    opsPerSec: Math.round(ops / (elapsed / 1000)),
    p50ms: round(percentile(sorted, 0.5)),
    p99ms: round(percentile(sorted, 0.99)),
    serverUsPerOp: opts.pids.length && ops ? round(((ticks / CLOCK_TICKS) * 1e6) / ops, 1) : null,
    clientCpuPct: Math.round(((cpu.user + cpu.system) / 1e3 / elapsed) * 100),
  };
}

const round = (x: number, digits = 3): number => Number(x.toFixed(digits));

/** Runs every scenario against one server; `report` is called as each figure is ready. */
export async function runWorkload(opts: WorkloadOptions, report: (f: Figures) => void): Promise<void> {
  const client = new Etcd3({ hosts: opts.endpoints });
  const run = `${Date.now().toString(36)}`;
  const wants = (s: string): boolean => opts.scenarios === undefined || opts.scenarios.has(s);
  try {
    for (const conc of wants('put') ? opts.putConc : []) {
      const prefix = `bench/put/${run}/c${conc}/`;
      report(await closedLoop(opts, 'put', conc, (_w, i) => client.kv.put({ key: Buffer.from(prefix + i), value: VALUE }).then(() => undefined)));
      const procs = opts.putProcs ?? 1;
      if (procs > 1 && conc >= 128) report(await multiProcessPuts(opts, conc, procs, `${prefix}p/`));
    }
    if (!wants('get') && !wants('watch') && !wants('lease')) return;

    const keys = Array.from({ length: 1000 }, (_, i) => Buffer.from(`bench/get/${run}/${i}`));
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((key) => client.kv.put({ key, value: VALUE })));
    }
    for (const serializable of wants('get') ? [false, true] : []) {
      for (const conc of opts.getConc) {
        report(
          await closedLoop(opts, serializable ? 'get-serializable' : 'get-linearizable', conc, async () => {
            const res = await client.kv.range({ key: keys[Math.floor(Math.random() * keys.length)]!, serializable });
            if (res.kvs.length !== 1) throw new Error('expected one key');
          }),
        );
      }
    }

    if (wants('watch')) report(await watchFanOut(opts, client, run));
    if (wants('lease')) report(await leaseKeepAlives(opts, client));
  } finally {
    client.close();
  }
}

/** One put at a time; each is done when every watcher has seen it. Latency = put → last delivery. */
async function watchFanOut(opts: WorkloadOptions, client: Etcd3, run: string): Promise<Figures> {
  const prefix = `bench/watch/${run}/`;
  const clients = Array.from({ length: 10 }, () => new Etcd3({ hosts: opts.endpoints }));
  const watchers = [];
  let pending: { key: string; remaining: number; resolve: () => void } | null = null;
  for (let i = 0; i < opts.watchers; i++) {
    const w = await clients[i % clients.length]!.watch().prefix(prefix).create();
    w.on('put', (kv) => {
      if (pending && kv.key.toString() === pending.key && --pending.remaining === 0) pending.resolve();
    });
    watchers.push(w);
  }
  try {
    const figures = await closedLoop(opts, `watch-fanout-${opts.watchers}`, 1, async (_w, i) => {
      const key = prefix + i;
      const delivered = new Promise<void>((resolve) => (pending = { key, remaining: opts.watchers, resolve }));
      await client.kv.put({ key: Buffer.from(key), value: VALUE });
      await bounded(delivered, 5000, 'watch delivery');
    });
    return figures;
  } finally {
    await Promise.all(watchers.map((w) => w.cancel().catch(() => undefined)));
    clients.forEach((c) => c.close());
  }
}

/**
 * Lease keep-alives over long-lived LeaseKeepAlive streams, as registered service instances send
 * them: 16 streams, each with one keep-alive in flight, cycling over the granted leases.
 */
async function leaseKeepAlives(opts: WorkloadOptions, client: Etcd3): Promise<Figures> {
  const ids: string[] = [];
  for (let i = 0; i < opts.leases; i++) ids.push(String((await client.leaseClient.leaseGrant({ TTL: 60, ID: 0 })).ID));
  const streams = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const stream = await client.leaseClient.leaseKeepAlive();
      const waiting: Array<(ttl: number) => void> = [];
      stream.on('data', (res: { TTL: string | number }) => waiting.shift()?.(Number(res.TTL)));
      return { stream, waiting };
    }),
  );
  try {
    return await closedLoop(opts, 'lease-keepalive', streams.length, async (w, i) => {
      const { stream, waiting } = streams[w]!;
      const answered = new Promise<number>((resolve) => waiting.push(resolve));
      stream.write({ ID: ids[(w * 7919 + i) % ids.length]! });
      if ((await bounded(answered, 5000, 'keep-alive')) <= 0) throw new Error('lease expired');
    });
  } finally {
    streams.forEach(({ stream }) => stream.end());
    await Promise.all(ids.map((ID) => client.leaseClient.leaseRevoke({ ID }).catch(() => undefined)));
  }
}

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Puts at concurrency `conc` from `procs` client processes (put-client.ts), each with conc/procs
 * workers and its own etcd3 client: one Node client process saturates near 5k req/s, so this is
 * the row that shows what the server itself sustains. Scenario `put-Np`.
 */
async function multiProcessPuts(opts: WorkloadOptions, conc: number, procs: number, prefix: string): Promise<Figures> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'put-client.ts');
  const children = Array.from({ length: procs }, () => fork(script, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const ready: Promise<void>[] = [];
  const reports = children.map((child, i) => {
    let loaded!: () => void;
    ready[i] = new Promise<void>((resolve) => (loaded = resolve));
    return new Promise<ClientReport>((resolve, reject) => {
      child.on('message', (m) => (m === 'ready' ? loaded() : resolve(m as ClientReport)));
      child.once('exit', (code) => reject(new Error(`put-client exited with ${code} before reporting`)));
    });
  });
  await Promise.all(ready);
  const per = Math.ceil(conc / procs);
  children.forEach((child, i) => {
    const start: ClientStart = { endpoints: opts.endpoints, conc: per, warmupMs: opts.warmupMs, durationMs: opts.durationMs, prefix: `${prefix}${i}/` };
    child.send(start);
  });
  // Every child is loaded; they connect and warm up, then record for the same window as this.
  await delay(opts.warmupMs);
  const ticks0 = serverCpuTicks(opts.pids);
  const t0 = nowMs();
  await delay(opts.durationMs);
  const ticks = serverCpuTicks(opts.pids) - ticks0;
  const elapsed = nowMs() - t0;
  const all = await Promise.all(reports);
  await Promise.all(children.map((c) => new Promise<void>((r) => (c.exitCode !== null ? r() : c.once('exit', () => r())))));
  const lat = Float64Array.from(all.flatMap((r) => r.latencies)).sort();
  const errors = all.reduce((n, r) => n + r.errors, 0);
  const ops = lat.length;
  return {
    server: opts.server,
    scenario: `put-${procs}p`,
    conc: per * procs,
    ops,
    errors,
    opsPerSec: Math.round(ops / (elapsed / 1000)),
    p50ms: round(percentile(lat, 0.5)),
    p99ms: round(percentile(lat, 0.99)),
    serverUsPerOp: opts.pids.length && ops ? round(((ticks / CLOCK_TICKS) * 1e6) / ops, 1) : null,
    clientCpuPct: Math.round(all.reduce((n, r) => n + r.cpuPct, 0)),
  };
}
