// `shoal up`: the whole local cluster under one supervisor: the coordinator cluster (3 members by
// default, on Raft), two instances of each shop service, and the gateway on --port. `shoal scale`
// and `shoal kill` reach this process through its control socket. A fresh --data-dir is a fresh cluster; an existing one restarts the
// cluster it holds. Ctrl-C (or SIGTERM) stops every child by PID and exits 0.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { probeMember, type MemberProbe } from '../coord/server/index.js';
import { newLayout, readLayout, writeLayout, type ClusterLayout, type CoordinatorLayout } from './layout.js';
import { serveControl } from './control.js';
import { ShopProcesses } from './shop-processes.js';
import { DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD } from './shop-topology.js';
import { Supervisor } from './supervisor.js';
import { FlagError } from './urls.js';

interface UpFlags {
  port: string;
  dataDir: string;
  coordinators: string;
}

const READY_LINE = 'ready to serve client requests';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start the local cluster (coordinators on Raft, the shop services, the gateway) and supervise it')
    .option('--port <port>', 'the gateway port; coordinator ports are derived from it (client: port+10+2i, peer: port+11+2i)', '8080')
    .option('--data-dir <path>', 'where all data lives (a fresh directory means a fresh cluster)', './.shoal')
    .option('--coordinators <n>', 'coordinator members: 1, 3 or 5 (a new cluster only)', '3')
    .action(async (flags: UpFlags) => {
      try {
        await runUp(flags);
      } catch (err) {
        process.stderr.write(`shoal up: ${(err as Error).message}\n`);
        process.exitCode = err instanceof FlagError ? 2 : 1;
      }
    });
}

async function runUp(flags: UpFlags): Promise<void> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_000) throw new FlagError('--port: must be a port number');
  const count = Number(flags.coordinators);
  if (![1, 3, 5].includes(count)) throw new FlagError('--coordinators: must be 1, 3 or 5');
  const dataDir = resolve(flags.dataDir);

  const stored = await readLayout(dataDir);
  const layout: ClusterLayout = stored ?? newLayout(dataDir, port, count);
  if (stored !== null && stored.coordinators.length !== count && flags.coordinators !== '3') {
    say(`note: ${dataDir} holds a cluster of ${stored.coordinators.length} coordinators; --coordinators applies to a new cluster only`);
  }
  for (const c of layout.coordinators) {
    for (const url of [c.clientUrl, c.peerUrl]) {
      const p = Number(new URL(url).port);
      if (!(await portFree(p))) {
        throw new Error(`port ${p} (${c.name} ${url === c.clientUrl ? 'client' : 'peer'}) is already in use: stop what holds it, or pick another --port with a fresh --data-dir`);
      }
    }
  }
  if (stored === null) await writeLayout(dataDir, layout);
  const logDir = join(dataDir, 'logs');
  await mkdir(logDir, { recursive: true });

  const supervisor = new Supervisor({
    onExit: (name, code, signal, restartInMs) =>
      say(`${name} exited (${signal ?? `code ${code}`}); restarting in ${restartInMs} ms (log: ${join(logDir, `${name}.log`)})`),
  });
  let stopping = false;
  const onStop: (() => Promise<void>)[] = [];
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    say(`${why}: stopping ${[...supervisor.pids()].map(([n, pid]) => `${n} (pid ${pid})`).join(', ') || 'nothing'}`);
    // The edge first, then the services (which deregister while the coordinators still run), then
    // the coordinators.
    const stage = (name: string): number => (name === 'gateway' ? 0 : layout.coordinators.some((c) => c.name === name) ? 2 : 1);
    void Promise.all(onStop.map((f) => f())).then(() => supervisor.stop(stage)).then(() => {
      say('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => stop('SIGHUP'));
  // Whoever reads our output (a terminal, a test runner) went away: an unhandled EPIPE would kill
  // this supervisor mid-flight and orphan every child, so stop them all instead (writes that fail
  // from here on are dropped).
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') stop(`output closed (${err.code})`);
    });
  }

  say(`${stored === null ? 'starting a new' : 'restarting the'} cluster in ${dataDir}`);
  await Promise.all(layout.coordinators.map((c) => supervisor.start(coordinatorChild(c, layout, logDir))));
  if (stopping) return;

  const probes = await waitForLeader(layout.coordinators, 20_000);
  const leaderId = probes.find((p) => p.leader !== '')?.leader ?? '';
  say('coordinators (etcd v3 API):');
  layout.coordinators.forEach((c, i) => {
    const p = probes[i]!;
    say(`  ${c.name}  ${c.clientUrl}  pid ${supervisor.pids().get(c.name) ?? '-'}${p.id !== '' && p.id === leaderId ? '  (leader)' : ''}`);
  });
  say(leaderId === '' ? 'no leader elected yet (see shoal status)' : `leader: ${layout.coordinators[probes.findIndex((p) => p.id === leaderId)]?.name ?? leaderId}`);
  const coordEndpoints = layout.coordinators.map((c) => c.clientUrl.replace('http://', '')).join(',');
  say(`SHOAL_COORD=${coordEndpoints}`);

  const shop = new ShopProcesses(supervisor, { dataDir, logDir, coordEndpoints, gatewayPort: port }, say);
  const control = await serveControl(dataDir, (request) => shop.handle(request));
  onStop.push(() => control.close());
  await shop.startAll();
  if (stopping) return;
  say(`gateway: http://127.0.0.1:${port}  (OpenAPI: http://127.0.0.1:${port}/docs)`);
  say(`admin account: ${process.env.SHOP_ADMIN_EMAIL ?? DEFAULT_ADMIN_EMAIL} / ${process.env.SHOP_ADMIN_PASSWORD === undefined ? DEFAULT_ADMIN_PASSWORD : '(from SHOP_ADMIN_PASSWORD)'}`);
  say('ready. Ctrl-C stops everything.');
}

/** The `shoal coord` child for one coordinator, started from the same entry point as this process. */
function coordinatorChild(c: CoordinatorLayout, layout: ClusterLayout, logDir: string) {
  const script = process.argv[1];
  if (script === undefined) throw new Error('cannot tell how this process was started');
  const fresh = !existsSync(join(c.dataDir, 'member'));
  return {
    name: c.name,
    command: process.execPath,
    args: [
      ...process.execArgv,
      script,
      'coord',
      '--name', c.name,
      '--data-dir', c.dataDir,
      '--listen-client-urls', c.clientUrl,
      '--advertise-client-urls', c.clientUrl,
      '--listen-peer-urls', c.peerUrl,
      '--initial-advertise-peer-urls', c.peerUrl,
      '--initial-cluster', layout.coordinators.map((x) => `${x.name}=${x.peerUrl}`).join(','),
      '--initial-cluster-state', fresh ? 'new' : 'existing',
      '--initial-cluster-token', layout.token,
    ],
    logFile: join(logDir, `${c.name}.log`),
    readyLine: READY_LINE,
  };
}

/** Probes every coordinator until one is named leader by all that answer, or the bound passes. */
async function waitForLeader(coordinators: CoordinatorLayout[], timeoutMs: number): Promise<MemberProbe[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probes = await Promise.all(coordinators.map((c) => probeMember(c.clientUrl, 1000)));
    const leaders = new Set(probes.filter((p) => p.error === undefined).map((p) => p.leader));
    if ((leaders.size === 1 && !leaders.has('')) || Date.now() >= deadline) return probes;
    // An election is not observable from outside but by asking: poll, bounded.
    await new Promise((r) => setTimeout(r, 100));
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

function say(line: string): void {
  process.stdout.write(`shoal up: ${line}\n`);
}
