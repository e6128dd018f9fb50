// Profiles `shoal coord` members under sequential puts (c=1 by default): starts N members from the
// build with `node --cpu-prof`, drives puts through the etcd3 client, stops them with SIGTERM (by
// PID) so each writes its .cpuprofile, and prints puts/s, p50/p99 and server CPU per put.
//
//   npx tsx bench/coord/profile.ts [--members 1|3] [--conc 1] [--duration 5] [--out /tmp/prof] [--no-prof]
//                                  [--kind shoal|etcd] [--dist path/to/cli/main.js] [--op put|get]
//                                  [--grpc-server lean|grpc-js] [--snapshot-count N]
//
// --op get reads one of 1,000 keys (written first) with linearizable gets instead of putting.
//
// With --conc 1 it also prints the latency per endpoint (the leader's is the lowest: a put sent
// to a follower is forwarded).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { LOOPBACK, freePorts, waitForTcp } from '../../test/support/ports.js';
import { parseFlags } from '../common/procs.js';

const args = parseFlags();
const members = Number(args.get('members') ?? 1);
const conc = Number(args.get('conc') ?? 1);
const durationMs = Number(args.get('duration') ?? 5) * 1000;
const out = args.get('out') ?? '/tmp/shoal-prof';
const prof = args.get('no-prof') !== 'true';
const kind = args.get('kind') ?? 'shoal';
const op = args.get('op') ?? 'put';
/** Shoal's gRPC server: lean (default) or grpc-js. */
const grpcServer = args.get('grpc-server') ?? 'lean';
/** Shoal's --snapshot-count (default: the server's). */
const snapshotCount = args.get('snapshot-count');
if (op !== 'put' && op !== 'get') throw new Error(`--op: put or get, got "${op}"`);
const built = args.get('dist') ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'main.js');

const ports = await freePorts(members * 2);
const names = Array.from({ length: members }, (_, i) => `m${i + 1}`);
const peerUrl = (i: number): string => `http://${LOOPBACK}:${ports[members + i]}`;
const clientUrl = (i: number): string => `http://${LOOPBACK}:${ports[i]}`;
const initialCluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
const dirs: string[] = [];
const children: ChildProcess[] = [];
for (let i = 0; i < members; i++) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'shoal-prof-'));
  dirs.push(dir);
  const etcdArgs = [
    '--name', names[i]!, '--data-dir', dir, '--listen-client-urls', clientUrl(i), '--advertise-client-urls', clientUrl(i),
    '--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i), '--initial-cluster', initialCluster,
    '--initial-cluster-state', 'new', '--initial-cluster-token', 'prof', '--logger', 'zap', '--log-level', 'warn',
  ];
  const child = spawn(
    kind === 'etcd' ? '/usr/bin/etcd' : process.execPath,
    kind === 'etcd' ? etcdArgs : [
      ...(prof ? ['--cpu-prof', '--cpu-prof-dir', out, '--cpu-prof-name', `${names[i]}-${Date.now()}.cpuprofile`] : []),
      built, 'coord', '--name', names[i]!, '--data-dir', dir, '--log-level', 'warn', '--grpc-server', grpcServer, ...(snapshotCount !== undefined ? ['--snapshot-count', snapshotCount] : []),
      '--listen-client-urls', clientUrl(i), '--advertise-client-urls', clientUrl(i),
      ...(members > 1
        ? ['--listen-peer-urls', peerUrl(i), '--initial-advertise-peer-urls', peerUrl(i), '--initial-cluster', initialCluster,
          '--initial-cluster-state', 'new', '--initial-cluster-token', 'prof']
        : []),
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  children.push(child);
}
/** Server CPU in clock ticks: [user, system]. */
/** read/write syscalls so far: [server reads, server writes, client reads, client writes]. */
const syscalls = (): number[] => {
  const io = (pid: number | string): [number, number] => {
    const t = readFileSync(`/proc/${pid}/io`, 'utf8');
    return [Number(/syscr: (\d+)/.exec(t)![1]), Number(/syscw: (\d+)/.exec(t)![1])];
  };
  const server = children.map((c) => io(c.pid!)).reduce((a, b) => [a[0] + b[0], a[1] + b[1]], [0, 0]);
  return [...server, ...io('self')];
};
const cpuTicks = (): [number, number] =>
  children.reduce<[number, number]>(
    (sum, c) => {
      const f = readFileSync(`/proc/${c.pid}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return [sum[0] + Number(fields[11]), sum[1] + Number(fields[12])];
    },
    [0, 0],
  );
try {
  for (let i = 0; i < members; i++) await waitForTcp(ports[i]!, Date.now() + 30_000);
  const client = new Etcd3({ hosts: names.map((_, i) => clientUrl(i)) });
  const value = Buffer.alloc(100, 'v');
  // Warm-up (and wait for a leader).
  for (let deadline = Date.now() + 1000; Date.now() < deadline; ) {
    await client.kv.put({ key: Buffer.from('warm'), value }).catch(() => new Promise((r) => setTimeout(r, 50)));
  }
  const lat: number[] = [];
  const perEndpoint = names.map(() => [] as number[]);
  const direct = names.map((_, i) => new Etcd3({ hosts: clientUrl(i) }));
  for (const d of direct) await d.kv.put({ key: Buffer.from('warm'), value });
  if (op === 'get') for (let i = 0; i < 1000; i++) await client.kv.put({ key: Buffer.from(`g/${i}`), value });
  const cpu0 = cpuTicks();
  const client0 = process.cpuUsage();
  const sys0 = syscalls();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  let n = 0;
  await Promise.all(
    Array.from({ length: conc }, async (_, w) => {
      while (performance.now() - t0 < durationMs) {
        const s = performance.now();
        const e = n % names.length;
        const c = conc === 1 ? direct[e]! : client;
        if (op === 'get') await c.get(`g/${n++ % 1000}`).buffer();
        else await c.kv.put({ key: Buffer.from(`k/${w}/${n++}`), value });
        const ms = performance.now() - s;
        lat.push(ms);
        if (conc === 1) perEndpoint[e]!.push(ms);
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const cpu1 = cpuTicks();
  const clientUsage = process.cpuUsage(client0);
  const sysPerOp = syscalls().map((v, i) => ((v - sys0[i]!) / lat.length).toFixed(2));
  const userUs = ((cpu1[0] - cpu0[0]) * 10_000) / lat.length;
  const sysUs = ((cpu1[1] - cpu0[1]) * 10_000) / lat.length;
  lat.sort((a, b) => a - b);
  const p = (q: number): string => lat[Math.floor(q * (lat.length - 1))]!.toFixed(2);
  console.log(
    `${kind} members ${members} c=${conc}: ${Math.round(lat.length / secs)} ${op}s/s (${lat.length})  p50 ${p(0.5)} ms  p99 ${p(0.99)} ms  max ${lat[lat.length - 1]!.toFixed(1)} ms  ` +
      `server ${(userUs + sysUs).toFixed(0)} us/${op} (user ${userUs.toFixed(0)}, sys ${sysUs.toFixed(0)})  ` +
      `client ${((clientUsage.user + clientUsage.system) / lat.length).toFixed(0)} us/${op} (event loop ${(elu * 100).toFixed(0)}% busy)  load ${os.loadavg()[0]!.toFixed(2)}`,
  );
  console.log(`  read/write syscalls per ${op}: server ${sysPerOp[0]} / ${sysPerOp[1]}, client ${sysPerOp[2]} / ${sysPerOp[3]}`);
  if (conc === 1 && members > 1) {
    console.log(
      '  p50 per endpoint: ' +
        perEndpoint.map((l) => (l.sort((a, b) => a - b), l[Math.floor(l.length / 2)]!.toFixed(2))).join(' / ') + ' ms',
    );
  }
  client.close();
  for (const d of direct) d.close();
} finally {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
