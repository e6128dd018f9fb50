// A process supervisor: starts child processes, appends their output to a log file each,
// restarts one that exits unexpectedly (with exponential backoff, reset once it has run for a
// while), and stops them all cleanly — SIGTERM by PID, SIGKILL after a grace period. `shoal up`
// runs the coordinators under it; the shop's services will join them as more children.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Output (stdout and stderr) is appended here. */
  logFile: string;
  /** A line of output that means the child is ready (checked on stderr and stdout). */
  readyLine?: string;
}

export interface SupervisorEvents {
  onReady?: (name: string, pid: number) => void;
  onExit?: (name: string, code: number | null, signal: NodeJS.Signals | null, restartInMs: number | null) => void;
}

export interface SupervisorOptions extends SupervisorEvents {
  /** First restart delay; doubles per quick crash up to maxBackoffMs. Default 250 ms. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A child that ran this long is healthy again: its backoff resets. Default 10 s. */
  stableAfterMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL. Default 10 s. */
  stopGraceMs?: number;
}

interface Running {
  spec: ChildSpec;
  child: ChildProcess | null;
  log: WriteStream;
  startedAt: number;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | null;
  exited: Promise<void>;
  ready: Promise<void>;
  restarts: number;
}

export class Supervisor {
  private readonly children = new Map<string, Running>();
  private stopping: Promise<void> | null = null;

  constructor(private readonly options: SupervisorOptions = {}) {}

  /** Starts a child; resolves once its ready line appeared (or at once without one). */
  start(spec: ChildSpec): Promise<void> {
    if (this.children.has(spec.name)) throw new Error(`supervisor: ${spec.name} is already supervised`);
    if (this.stopping !== null) throw new Error('supervisor: stopping');
    const r: Running = {
      spec,
      child: null,
      log: createWriteStream(spec.logFile, { flags: 'a' }),
      startedAt: 0,
      backoffMs: this.options.initialBackoffMs ?? 250,
      restartTimer: null,
      exited: Promise.resolve(),
      ready: Promise.resolve(),
      restarts: 0,
    };
    this.children.set(spec.name, r);
    this.spawn(r);
    return r.ready;
  }

  pids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, r] of this.children) if (r.child?.pid !== undefined && r.child.exitCode === null) out.set(name, r.child.pid);
    return out;
  }

  restarts(name: string): number {
    return this.children.get(name)?.restarts ?? 0;
  }

  /** Stops every child: SIGTERM by PID, SIGKILL after the grace period. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const grace = this.options.stopGraceMs ?? 10_000;
      await Promise.all(
        [...this.children.values()].map(async (r) => {
          if (r.restartTimer !== null) clearTimeout(r.restartTimer);
          const child = r.child;
          if (child !== null && child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), grace);
            await r.exited;
            clearTimeout(timer);
          }
          await new Promise<void>((resolve) => r.log.end(resolve));
        }),
      );
    })();
    return this.stopping;
  }

  private spawn(r: Running): void {
    const { spec } = r;
    r.startedAt = Date.now();
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    r.child = child;
    let markReady: (() => void) | null = null;
    r.ready = spec.readyLine === undefined ? Promise.resolve() : new Promise<void>((resolve) => (markReady = resolve));
    let pending = '';
    const onData = (chunk: Buffer): void => {
      r.log.write(chunk);
      if (markReady === null || spec.readyLine === undefined) return;
      pending += chunk.toString('utf8');
      if (pending.includes(spec.readyLine)) {
        pending = '';
        const done: () => void = markReady;
        markReady = null;
        this.options.onReady?.(spec.name, child.pid ?? 0);
        done();
      } else if (pending.length > 64 * 1024) {
        pending = pending.slice(-spec.readyLine.length);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    r.exited = new Promise<void>((resolve) => {
      child.once('error', (err) => r.log.write(`supervisor: could not start ${spec.name}: ${err.message}\n`));
      child.once('close', (code, signal) => {
        resolve();
        if (this.stopping !== null) return;
        // A child that ran long enough crashed for a new reason: start over with a short delay.
        if (Date.now() - r.startedAt >= (this.options.stableAfterMs ?? 10_000)) r.backoffMs = this.options.initialBackoffMs ?? 250;
        const delay = r.backoffMs;
        r.backoffMs = Math.min(r.backoffMs * 2, this.options.maxBackoffMs ?? 10_000);
        this.options.onExit?.(spec.name, code, signal, delay);
        r.restartTimer = setTimeout(() => {
          r.restartTimer = null;
          if (this.stopping !== null) return;
          r.restarts++;
          this.spawn(r);
        }, delay);
      });
    });
  }
}
