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
  /** Output that means the child is ready (checked on stderr and stdout): a substring, or a pattern (use `m` and `^` to anchor at a line start). */
  readyLine?: string | RegExp;
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
  restarts: number;
  /** Set once the child is being stopped on purpose: its exit is not a crash to restart. */
  stopped: boolean;
  /** Resolves at the first ready line of any spawn (a child may crash and be restarted before it is ready once). */
  firstReady: Promise<void>;
  markFirstReady: () => void;
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
      restarts: 0,
      stopped: false,
      firstReady: Promise.resolve(),
      markFirstReady: () => {},
    };
    r.firstReady = new Promise<void>((resolve) => (r.markFirstReady = resolve));
    this.children.set(spec.name, r);
    this.spawn(r);
    return r.firstReady;
  }

  pids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, r] of this.children) if (r.child?.pid !== undefined && r.child.exitCode === null) out.set(name, r.child.pid);
    return out;
  }

  restarts(name: string): number {
    return this.children.get(name)?.restarts ?? 0;
  }

  names(): string[] {
    return [...this.children.keys()];
  }

  /**
   * Stops one child for good (scale down): SIGTERM so it drains, SIGKILL after the grace period;
   * it is not restarted and leaves the supervisor.
   */
  async stopChild(name: string): Promise<void> {
    const r = this.children.get(name);
    if (r === undefined) throw new Error(`supervisor: no child named ${name}`);
    this.children.delete(name);
    if (r.restartTimer !== null) clearTimeout(r.restartTimer);
    await this.terminate(r);
  }

  /** Sends a signal to a running child by its PID (e.g. SIGKILL to test failover); it is restarted as after any crash. */
  signal(name: string, signal: NodeJS.Signals): number {
    const r = this.children.get(name);
    const child = r?.child;
    if (child === null || child === undefined || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`supervisor: ${name} is not running`);
    }
    child.kill(signal);
    return child.pid;
  }

  /** Stops every child: SIGTERM by PID, SIGKILL after the grace period. Idempotent. */
  /**
   * Stops every child: SIGTERM by PID, SIGKILL after the grace period. Idempotent. `stage` orders
   * the stop: children of stage 0 first, then 1, … (e.g. the gateway, then the services that
   * deregister from the coordinators, then the coordinators). No restart happens meanwhile.
   */
  stop(stage: (name: string) => number = () => 0): Promise<void> {
    this.stopping ??= (async () => {
      const all = [...this.children.entries()];
      for (const [, r] of all) if (r.restartTimer !== null) clearTimeout(r.restartTimer);
      const stages = [...new Set(all.map(([name]) => stage(name)))].sort((a, b) => a - b);
      for (const s of stages) {
        await Promise.all(all.filter(([name]) => stage(name) === s).map(([, r]) => this.terminate(r)));
      }
    })();
    return this.stopping;
  }

  private async terminate(r: Running): Promise<void> {
    const grace = this.options.stopGraceMs ?? 10_000;
    r.stopped = true;
    r.markFirstReady(); // nobody should keep waiting for a child that is being stopped
    const child = r.child;
    if (child !== null && child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), grace);
      await r.exited;
      clearTimeout(timer);
    }
    await new Promise<void>((resolve) => r.log.end(resolve));
  }

  private spawn(r: Running): void {
    const { spec } = r;
    r.startedAt = Date.now();
    const child = spawn(spec.command, spec.args, { cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    r.child = child;
    // Each spawn looks for its own ready line (onReady fires per spawn); start() waits for the first.
    let watching = spec.readyLine !== undefined;
    if (!watching) r.markFirstReady();
    let pending = '';
    const onData = (chunk: Buffer): void => {
      r.log.write(chunk);
      if (!watching || spec.readyLine === undefined) return;
      pending += chunk.toString('utf8');
      if (typeof spec.readyLine === 'string' ? pending.includes(spec.readyLine) : spec.readyLine.test(pending)) {
        pending = '';
        watching = false;
        this.options.onReady?.(spec.name, child.pid ?? 0);
        r.markFirstReady();
      } else if (pending.length > 64 * 1024) {
        pending = pending.slice(-4096);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    r.exited = new Promise<void>((resolve) => {
      child.once('error', (err) => r.log.write(`supervisor: could not start ${spec.name}: ${err.message}\n`));
      child.once('close', (code, signal) => {
        resolve();
        if (this.stopping !== null || r.stopped) return;
        // A child that ran long enough crashed for a new reason: start over with a short delay.
        if (Date.now() - r.startedAt >= (this.options.stableAfterMs ?? 10_000)) r.backoffMs = this.options.initialBackoffMs ?? 250;
        const delay = r.backoffMs;
        r.backoffMs = Math.min(r.backoffMs * 2, this.options.maxBackoffMs ?? 10_000);
        this.options.onExit?.(spec.name, code, signal, delay);
        r.restartTimer = setTimeout(() => {
          r.restartTimer = null;
          if (this.stopping !== null || r.stopped) return;
          r.restarts++;
          this.spawn(r);
        }, delay);
      });
    });
  }
}
