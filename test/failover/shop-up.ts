// A whole `shoal up` (3 coordinators, users, goods and orders ×2, gateway) for process-level
// failover and chaos tests: started on a free block of ports in a temp dir, driven through the `shoal` CLI, stopped
// by SIGINT with a check that every process it started is gone.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive, REPO, shoalUpPort, type StatusJson } from '../support/shoal-up.js';

export { alive };

const READY = 'shoal up: ready. Ctrl-C stops everything.';

export type ShopStatus = StatusJson;
export type InstanceStatus = StatusJson['instances'][number];

/** Parent pid of a process, from /proc (Linux); undefined once it is gone. */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 4, after the command name in parentheses (which may itself hold spaces or parentheses).
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Every live descendant of `root`. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentPid(Number(name));
    if (ppid === undefined) continue;
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()!) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

export class ShopUp {
  readonly out: string[] = [];
  /** Every pid ever seen below `shoal up` (children come and go with kills and scaling). */
  readonly seenPids = new Set<number>();
  private readonly exited: Promise<number | string>;

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString();
      this.out.push(text);
      for (const m of text.matchAll(/pid (\d+)/g)) this.seenPids.add(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  }

  get gateway(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Coordinator client endpoints (host:port) from the ready output. */
  coordinators(): string[] {
    const line = /SHOAL_COORD=(\S+)/.exec(this.out.join(''));
    if (line === null) throw new Error('shoal up printed no SHOAL_COORD line');
    return line[1]!.split(',');
  }

  /**
   * Starts `shoal up` and resolves once it printed its ready line. `env` is added to the
   * environment every child inherits.
   */
  static async start(env: Record<string, string>, boundMs: number): Promise<ShopUp> {
    // A short path: the control socket lives in the data dir and sockaddr_un holds 108 bytes.
    const dataDir = join(mkdtempSync(join(tmpdir(), 'shoal-fo-')), 'd');
    const port = await shoalUpPort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'up', '--data-dir', dataDir, '--port', String(port)], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const up = new ShopUp(child, dataDir, port);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.stdout!.off('data', check);
        reject(new Error(`shoal up not ready within ${boundMs} ms:\n${up.out.join('')}`));
      }, boundMs);
      const check = (): void => {
        if (!up.out.join('').includes(READY)) return;
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve();
      };
      child.stdout!.on('data', check);
      void up.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`shoal up exited (${code}) before it was ready:\n${up.out.join('')}`));
      });
      check();
    });
    for (const pid of descendants(child.pid!)) up.seenPids.add(pid);
    return up;
  }

  /** Runs `shoal <args> --data-dir <dir>`; resolves with its stdout, rejects on a non-zero exit. */
  cli(args: string[], timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--data-dir', this.dataDir], { cwd: REPO, timeout: timeoutMs }, (err, stdout, stderr) => {
        if (err) reject(new Error(`shoal ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
        else resolve(stdout);
      });
    });
  }

  async status(): Promise<ShopStatus> {
    const text = await this.cli(['status', '--json'], 30_000);
    return JSON.parse(text) as ShopStatus;
  }

  /** Is `pid` a process this `shoal up` started (its direct child)? Guards every signal the test sends. */
  owns(pid: number): boolean {
    return parentPid(pid) === this.child.pid;
  }

  /**
   * SIGINT, then waits (bounded) for the exit. Resolves with the exit code and the pids started
   * below `shoal up` that are still alive afterwards (there should be none). Whatever is left is
   * SIGKILLed by pid so a failed test leaves nothing behind.
   */
  async stop(boundMs: number): Promise<{ code: number | string; leftovers: number[] }> {
    for (const pid of descendants(this.child.pid!)) this.seenPids.add(pid);
    // A stopped child would never act on SIGTERM: resume every one of ours first.
    for (const pid of this.seenPids) if (alive(pid) && parentPid(pid) === this.child.pid) process.kill(pid, 'SIGCONT');
    this.child.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([this.exited, new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout'), boundMs)))]);
    clearTimeout(timer);
    if (code === 'timeout') this.child.kill('SIGKILL');
    // Only pids we saw below this shoal up that still carry its data dir (a pid may be reused).
    const leftovers = [...this.seenPids].filter((pid) => alive(pid) && this.mentionsDataDir(pid));
    for (const pid of leftovers) process.kill(pid, 'SIGKILL');
    return { code, leftovers };
  }

  private mentionsDataDir(pid: number): boolean {
    try {
      return ['cmdline', 'environ'].some((f) => readFileSync(`/proc/${pid}/${f}`, 'utf8').includes(this.dataDir));
    } catch {
      return false;
    }
  }

  removeDataDir(): void {
    rmSync(join(this.dataDir, '..'), { recursive: true, force: true });
  }
}
