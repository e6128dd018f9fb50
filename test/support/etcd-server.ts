// Throw-away coordinator servers for tests: real etcd here, Shoal's coordinator in shoal-coord.ts,
// both behind one small interface so a suite runs unchanged against either:
//
//   describe.each(selectServers([etcdServer, shoalCoord]))('$name', (kind) => { ... kind.start() ... })
//
// SHOAL_CONTRACT_SERVERS=etcd,shoal (the default) picks which kinds run. A selected kind that cannot
// start fails loudly: CI installs etcd, so a missing binary is an error, never a skip.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCoordClient } from '../../src/recipes/index.js';
import { freePorts, LOOPBACK, waitForTcp } from './ports.js';

export interface CoordServer {
  readonly name: string;
  /** Client URLs, e.g. ['http://127.0.0.1:40123']. */
  readonly endpoints: string[];
  readonly pid: number;
  /** Stops the process this server started (by its PID) and removes its data directory. */
  stop(): Promise<void>;
  /** The tail of the process's stdout and stderr, for failure messages. */
  logs(): string;
}

export interface CoordServerKind {
  readonly name: 'etcd' | 'shoal';
  start(): Promise<CoordServer>;
}

export const ETCD_BIN = process.env['ETCD_BIN'] ?? '/usr/bin/etcd';
export const ETCDCTL_BIN = process.env['ETCDCTL_BIN'] ?? '/usr/bin/etcdctl';

/** The kinds named in SHOAL_CONTRACT_SERVERS (comma separated; default: every kind given). */
export function selectServers<K extends CoordServerKind>(kinds: readonly K[]): K[] {
  const raw = process.env['SHOAL_CONTRACT_SERVERS'];
  if (raw === undefined || raw.trim() === '') return [...kinds];
  const wanted = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const name of wanted) {
    if (!kinds.some((k) => k.name === name)) {
      throw new Error(`SHOAL_CONTRACT_SERVERS names "${name}", known: ${kinds.map((k) => k.name).join(', ')}`);
    }
  }
  return kinds.filter((k) => wanted.includes(k.name));
}

export const etcdServer: CoordServerKind = {
  name: 'etcd',
  start: () => {
    try {
      accessSync(ETCD_BIN, fsConstants.X_OK);
    } catch {
      throw new Error(`etcd binary not found or not executable at ${ETCD_BIN}: install Debian's etcd-server (CI does) or set ETCD_BIN`);
    }
    return startProcessServer({
      name: 'etcd',
      portsNeeded: 2,
      command: ETCD_BIN,
      args: (dataDir, [client, peer]) => [
        '--name', 'n1',
        '--data-dir', dataDir,
        '--listen-client-urls', `http://${LOOPBACK}:${client}`,
        '--advertise-client-urls', `http://${LOOPBACK}:${client}`,
        '--listen-peer-urls', `http://${LOOPBACK}:${peer}`,
        '--initial-advertise-peer-urls', `http://${LOOPBACK}:${peer}`,
        '--initial-cluster', `n1=http://${LOOPBACK}:${peer}`,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
    });
  },
};

export interface ProcessServerSpec {
  name: string;
  command: string;
  /** Ports to allocate; the first one is the client port. */
  portsNeeded: number;
  args(dataDir: string, ports: number[]): string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

const LOG_TAIL_BYTES = 64 * 1024;
const BIND_RETRIES = 3;

export async function startProcessServer(spec: ProcessServerSpec): Promise<CoordServer> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= BIND_RETRIES; attempt++) {
    try {
      return await startOnce(spec);
    } catch (err) {
      lastError = err;
      // Only a port taken between probe and bind is worth another try; anything else is a real failure.
      if (!(err instanceof PortTakenError)) throw err;
    }
  }
  throw lastError;
}

class PortTakenError extends Error {}

async function startOnce(spec: ProcessServerSpec): Promise<CoordServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `shoal-test-${spec.name}-`));
  const ports = await freePorts(spec.portsNeeded);
  const clientPort = ports[0]!;
  const endpoints = [`http://${LOOPBACK}:${clientPort}`];
  const child = spawn(spec.command, spec.args(dataDir, ports), {
    cwd: spec.cwd,
    env: spec.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const append = (chunk: Buffer): void => {
    tail += chunk.toString('utf8');
    if (tail.length > LOG_TAIL_BYTES) tail = tail.slice(tail.length - LOG_TAIL_BYTES);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => undefined);
  const pid = child.pid;
  if (pid === undefined) {
    await rm(dataDir, { recursive: true, force: true });
    await spawnError;
    throw new Error(`${spec.name}: spawn gave no pid`);
  }
  // A test worker that dies without calling stop() must not leave the server running.
  const killOnExit = (): void => {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  };
  process.once('exit', killOnExit);

  const server: CoordServer = {
    name: spec.name,
    endpoints,
    pid,
    logs: () => tail,
    stop: async () => {
      process.removeListener('exit', killOnExit);
      await stopChild(child, pid, exited);
      await rm(dataDir, { recursive: true, force: true });
    },
  };

  const abort = new AbortController();
  const deadline = Date.now() + (spec.readyTimeoutMs ?? 20_000);
  try {
    await Promise.race([
      waitReady(clientPort, endpoints, deadline, abort.signal),
      spawnError,
      exited.then(({ code, signal }) => {
        const msg = `${spec.name} exited before it was ready (code ${code}, signal ${signal})\n${tail}`;
        throw /address already in use/i.test(tail) ? new PortTakenError(msg) : new Error(msg);
      }),
    ]);
  } catch (err) {
    abort.abort();
    await server.stop();
    if (err instanceof PortTakenError) throw err;
    throw new Error(`${spec.name} did not become ready on ${endpoints[0]}: ${(err as Error).message}\n--- ${spec.name} output ---\n${tail}`);
  }
  abort.abort();
  return server;
}

/** Ready means: accepts TCP, then answers a linearizable Range (which needs an elected leader). */
async function waitReady(port: number, endpoints: string[], deadline: number, signal: AbortSignal): Promise<void> {
  await waitForTcp(port, deadline, signal);
  const client = createCoordClient(endpoints, {
    maxAttempts: 1,
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 20, 'grpc.max_reconnect_backoff_ms': 200 },
  });
  try {
    let lastError: unknown;
    while (!signal.aborted && Date.now() < deadline) {
      try {
        await client.kv.range({ key: Buffer.from('/shoal/ready-probe') }, { deadline: Math.min(deadline, Date.now() + 2000) });
        return;
      } catch (err) {
        lastError = err;
      }
      // The server's leader election has no event we can subscribe to from outside: poll, bounded.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`Range did not succeed before the deadline: ${String(lastError)}`);
  } finally {
    client.close();
  }
}

async function stopChild(
  child: ChildProcess,
  pid: number,
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const bounded = (ms: number): Promise<boolean> =>
    Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  if (await bounded(5000)) return;
  try { process.kill(pid, 'SIGKILL'); } catch { return; }
  if (!(await bounded(5000))) throw new Error(`process ${pid} did not exit after SIGKILL`);
}
