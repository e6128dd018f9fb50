// A gateway or service process started from source for a test: its output collected, a wait for a
// line in it (bounded, failing early if the process exits), and its exit code or signal.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

export interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
  exited: Promise<number | string>;
  /** Resolves once `pattern` shows up in stdout or stderr; rejects after `boundMs` or on exit. */
  waitFor(pattern: RegExp, boundMs: number): Promise<RegExpMatchArray>;
}

export function start(entry: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, entry)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const listeners = new Set<() => void>();
  const proc: Proc = {
    child,
    out: '',
    err: '',
    exited: new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal ?? -1))),
    waitFor(pattern, boundMs) {
      return new Promise((resolvePattern, reject) => {
        const check = (): void => {
          const m = pattern.exec(proc.out) ?? pattern.exec(proc.err);
          if (m === null) return;
          done();
          resolvePattern(m);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${entry}: ${pattern} not seen in ${boundMs} ms\nstdout: ${proc.out.slice(-2000)}\nstderr: ${proc.err.slice(-3000)}`));
        }, boundMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        void proc.exited.then((code) => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`${entry} exited (${code}) before ${pattern}\nstderr: ${proc.err.slice(-3000)}`));
        });
        listeners.add(check);
        check();
      });
    },
  };
  child.stdout!.setEncoding('utf8').on('data', (c: string) => ((proc.out += c), listeners.forEach((l) => l())));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => ((proc.err += c), listeners.forEach((l) => l())));
  return proc;
}

/** SIGKILLs every process of the list still running (tests' cleanup) and waits for all to exit. */
export async function killAll(procs: readonly Proc[]): Promise<void> {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
}
