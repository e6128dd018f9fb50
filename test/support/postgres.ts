// A throw-away PostgreSQL server for engine tests: initdb into a temp dir, postgres on 127.0.0.1
// on a free port with its socket in the temp dir, stopped by the PID this module started.
//
// PostgreSQL refuses to run as root, so as root the data dir is handed to the `postgres` OS user
// and every binary runs through `runuser -u postgres --` (the PID we hold is then runuser's; it
// execs nothing but forwards signals, so we also learn the postmaster's own PID from
// postmaster.pid for SIGKILL). Tests skip only when the binaries are missing: CI installs them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants as fsConstants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, LOOPBACK } from './ports.js';

export const PG_BIN_DIR = process.env['PG_BIN_DIR'] ?? '/usr/lib/postgresql/15/bin';

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresUnavailable(): string | undefined {
  for (const bin of ['initdb', 'postgres']) {
    try {
      accessSync(path.join(PG_BIN_DIR, bin), fsConstants.X_OK);
    } catch {
      return `PostgreSQL binaries not found in ${PG_BIN_DIR} (install Debian's postgresql, or set PG_BIN_DIR)`;
    }
  }
  if (isRoot() && spawnSync('id', ['-u', 'postgres']).status !== 0) return 'running as root but there is no `postgres` OS user to run PostgreSQL as';
  return undefined;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function asServerUser(bin: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

export interface PgServerOptions {
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
  readyTimeoutMs?: number;
}

export class PgServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private tail = '';
  private readonly killOnExit = (): void => this.killHard();

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly opts: PgServerOptions,
  ) {}

  /** initdb + start; resolves once the server accepts connections. */
  static async start(opts: PgServerOptions = {}): Promise<PgServer> {
    const reason = postgresUnavailable();
    if (reason !== undefined) throw new Error(reason);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'shoal-pg-'));
    const server = new PgServer(dir, await freePort(), opts);
    try {
      if (isRoot()) {
        // The temp dir's parent is world-traversable; the postgres user must own the dir itself.
        chmodSync(dir, 0o700);
        const uid = Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim());
        const gid = Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim());
        chownSync(dir, uid, gid);
      }
      const [cmd, args] = asServerUser(path.join(PG_BIN_DIR, 'initdb'), [
        '-D', server.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C',
      ]);
      const init = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
      if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr}${init.stdout}`);
      await server.launch();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  /** Connection settings for pg.Pool / pg.Client. */
  get connection(): pg.ClientConfig {
    return { host: LOOPBACK, port: this.port, user: 'postgres', database: 'postgres' };
  }

  logs(): string {
    return this.tail;
  }

  /** Crash: SIGKILL the postmaster (no shutdown checkpoint), wait for the process to be gone. */
  async kill(): Promise<void> {
    this.killHard();
    await this.waitExit(10_000);
    // Orphaned backends of a SIGKILLed postmaster exit on their own once they notice; the next
    // start waits for the shared memory to be released (postmaster.pid check) — bounded by launch().
  }

  /** Starts the server again on the same data dir and port (after kill() or stop(false)). */
  async restart(): Promise<void> {
    await this.launch();
  }

  /** Stops the server (SIGINT = fast shutdown, SIGKILL after a bound) and removes its dir. */
  async stop(removeDir = true): Promise<void> {
    process.removeListener('exit', this.killOnExit);
    if (this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      this.signal('SIGINT');
      if (!(await this.waitExit(10_000))) {
        this.killHard();
        await this.waitExit(5_000);
      }
    }
    if (removeDir) rmSync(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    // After a SIGKILL the orphaned backends may hold the old shared memory for a moment, and the
    // new postmaster refuses to start until they are gone: a bounded number of attempts.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.launchOnce();
        return;
      } catch (err) {
        if (attempt >= 5 || !/still in use|exited before it was ready/.test((err as Error).message)) throw err;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  private async launchOnce(): Promise<void> {
    const settings: Record<string, string> = {
      max_prepared_transactions: '64',
      fsync: 'on',
      listen_addresses: LOOPBACK,
      unix_socket_directories: this.dir,
      max_connections: '40',
      shared_buffers: '16MB',
      ...this.opts.settings,
    };
    const args = ['-D', this.dataDir, '-p', String(this.port), '-k', this.dir];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const [cmd, argv] = asServerUser(path.join(PG_BIN_DIR, 'postgres'), args);
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const append = (chunk: Buffer): void => {
      this.tail = (this.tail + chunk.toString('utf8')).slice(-32_000);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    process.once('exit', this.killOnExit);
    await this.waitReady(this.opts.readyTimeoutMs ?? 30_000);
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    for (let delay = 20; Date.now() < deadline; delay = Math.min(delay * 2, 250)) {
      if (this.child?.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`postgres exited before it was ready:\n${this.tail}`);
      }
      const client = new pg.Client({ ...this.connection, connectionTimeoutMillis: 2000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        this.postmasterPid();
        return;
      } catch (err) {
        lastError = err;
      } finally {
        await client.end().catch(() => undefined);
      }
      // Startup (and crash recovery) has no event we can subscribe to from here: poll, bounded.
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    throw new Error(`postgres not ready within ${timeoutMs} ms: ${String(lastError)}\n${this.tail}`);
  }

  private lastPostmasterPid: number | undefined;

  private postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (!Number.isInteger(pid) || pid <= 0) return undefined;
      this.lastPostmasterPid = pid;
      return pid;
    } catch {
      return undefined;
    }
  }

  private signal(sig: NodeJS.Signals): void {
    // Signal the postmaster itself (runuser forwards only some signals), and the child we spawned.
    const pid = this.postmasterPid();
    if (pid !== undefined) {
      try { process.kill(pid, sig); } catch { /* gone */ }
    }
    if (this.child?.pid !== undefined) {
      try { process.kill(this.child.pid, sig); } catch { /* gone */ }
    }
  }

  private killHard(): void {
    if (this.child === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.signal('SIGKILL');
  }

  /** Waits (bounded) for the spawned process and the postmaster it ran to be gone. */
  private async waitExit(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms); }),
    ]);
    clearTimeout(timer);
    if (!exited) return false;
    const pid = this.lastPostmasterPid;
    // Under runuser the child we spawned is not the postmaster; its exit says nothing about the
    // postmaster's, which has no exit event we can await from here: poll, bounded.
    while (pid !== undefined && pidAlive(pid)) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
