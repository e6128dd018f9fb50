// Process plumbing shared by the benchmarks that start servers and measure their CPU: `--flag value`
// arguments, a free loopback port, stopping a child by PID, and CPU ticks from /proc.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';

/** `--name value` pairs from process.argv (a flag followed by another flag or nothing reads as 'true'). */
export function parseFlags(argv: readonly string[] = process.argv): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) {
      flags.set(a.slice(2), 'true');
    } else {
      flags.set(a.slice(2), next);
      i++;
    }
  }
  return flags;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** SIGTERM, then SIGKILL if the child has not exited after `graceMs`. */
export async function stop(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** CPU ticks of the whole machine, from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** User + system CPU ticks of one process, or undefined once it is gone. */
export function pidTicks(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(rest[11]) + Number(rest[12]);
  } catch {
    return undefined;
  }
}

/**
 * Resolves with the first line of `stream` (default: the child's stdout) matching `ready`;
 * rejects if the process exits first or after `timeoutMs`, with the tail of `logFile` if given.
 */
export function waitForLine(
  child: ChildProcess,
  ready: (line: string) => boolean,
  what: string,
  options: { stream?: NodeJS.ReadableStream; timeoutMs?: number; logFile?: string } = {},
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const tail = (): string => (options.logFile !== undefined && existsSync(options.logFile) ? `\n${readFileSync(options.logFile, 'utf8').split('\n').slice(-15).join('\n')}` : '');
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: options.stream ?? child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${what}: not ready after ${timeoutMs / 1000} s${tail()}`)), timeoutMs);
    rl.on('line', (line) => {
      if (ready(line)) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready${tail()}`));
    });
  });
}
