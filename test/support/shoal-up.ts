// `shoal up` as a test fixture: the whole shop cluster (3 coordinators, 2 each of users, goods and orders, the
// gateway) in a temp data dir on a free block of ports, run from source with tsx. Resolves once
// `shoal up` says everything is ready; `stop()` sends SIGINT and waits for the exit.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePortBlock } from './ports.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const READY = /shoal up: ready\. Ctrl-C stops everything\./;

export interface ShoalUp {
  child: ChildProcess;
  port: number;
  gateway: string;
  dataDir: string;
  /** Everything `shoal up` printed so far. */
  output(): string;
  exited: Promise<number | string>;
  /** PIDs of every child `shoal up` reported starting (coordinators, instances, gateway). */
  childPids(): number[];
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** The gateway port P; `shoal up` also takes P+10..P+15 for the coordinators. */
export function shoalUpPort(): Promise<number> {
  return freePortBlock(16);
}

export function startShoalUp(options: { dataDir: string; port: number; readyWithin?: number; ready?: RegExp; env?: NodeJS.ProcessEnv }): Promise<ShoalUp> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'up', '--data-dir', options.dataDir, '--port', String(options.port)], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const out: string[] = [];
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const up: ShoalUp = {
    child,
    port: options.port,
    gateway: `http://127.0.0.1:${options.port}`,
    dataDir: options.dataDir,
    output: () => out.join(''),
    exited,
    childPids: () => [...out.join('').matchAll(/\bpid (\d+)\)?/g)].map((m) => Number(m[1])),
    async stop(signal: NodeJS.Signals = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  const ready = options.ready ?? READY;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`shoal up not ready within ${options.readyWithin ?? 180_000} ms:\n${out.join('')}`));
    }, options.readyWithin ?? 180_000);
    const onData = (chunk: Buffer): void => {
      out.push(chunk.toString());
      if (ready.test(out.join(''))) {
        clearTimeout(timer);
        resolve(up);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`shoal up exited (${code}):\n${out.join('')}`));
    });
  });
}

export interface StatusJson {
  coordinators: { name: string; id: string; url: string; leader: boolean; healthy: boolean; raftTerm: number; raftIndex: number }[];
  instances: { id: string; service: string; version: string; url: string; pid: number; healthy: boolean }[];
}

/** Runs a `shoal` subcommand against the data dir; resolves with its exit code and output. */
export function shoal(args: string[], dataDir: string, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--data-dir', dataDir], { cwd: REPO, timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

export async function shoalStatus(dataDir: string): Promise<{ code: number; json: StatusJson }> {
  const r = await shoal(['status', '--json'], dataDir);
  try {
    return { code: r.code, json: JSON.parse(r.stdout) as StatusJson };
  } catch (e) {
    throw new Error(`shoal status printed no JSON (${String(e)}): ${r.stdout}${r.stderr}`);
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
