// A seeded nemesis: for a bounded time, alternates a fault (held for a while) and a quiet spell,
// picking faults and victims from its seed, then heals everything. Every action is logged with
// the monotonic time the histories use (performance.now()), so a failure report can line up the
// faults with the operations. The hold and quiet intervals are the workload's timing, not waits
// for something awaitable: restarts and the final recovery are awaited with bounds.
import type { Cluster, Member } from './cluster.js';
import { now, prng } from './history.js';

export type FaultKind =
  | 'kill' // SIGKILL a minority of members, restart them after the hold
  | 'kill-leader' // SIGKILL the current leader, restart it after the hold
  | 'pause' // SIGSTOP a minority, SIGCONT after the hold
  | 'pause-leader'
  | 'isolate' // cut one member from all others, both directions
  | 'split' // a random majority / minority partition
  | 'asymmetric' // one member's outgoing links cut, incoming kept (per-pair routing only)
  | 'inbound' // cut only the connections others open to one member (all a destination proxy does alone)
  | 'slow'; // delay every link of one member

export const DEFAULT_FAULTS: readonly FaultKind[] = ['kill', 'kill-leader', 'pause', 'pause-leader', 'isolate', 'split', 'asymmetric', 'inbound'];

export interface NemesisOptions {
  seed: number;
  faults?: readonly FaultKind[];
  /** A fault is held for a random time in [min, max] ms. */
  holdMs?: [number, number];
  /** Quiet time between faults, [min, max] ms. */
  quietMs?: [number, number];
  /** Bound on the final recovery (all members back, a leader, every member serving). */
  recoverTimeoutMs?: number;
}

export interface NemesisEvent {
  /** performance.now() ms. */
  at: number;
  action: string;
}

export class Nemesis {
  readonly log: NemesisEvent[] = [];
  readonly counts: Record<string, number> = {};
  private readonly rand: () => number;
  private readonly faults: FaultKind[];
  private readonly startedAt = now();

  constructor(private readonly cluster: Cluster, readonly options: NemesisOptions) {
    this.rand = prng(options.seed ^ 0x5eed);
    const wanted = options.faults ?? DEFAULT_FAULTS;
    const net = cluster.network;
    // Faults the cluster cannot express are left out (and said so in the log), never faked.
    this.faults = wanted.filter((f) => {
      if (['isolate', 'split', 'inbound', 'slow'].includes(f)) return net !== undefined;
      if (f === 'asymmetric') return net?.supportsAsymmetric === true;
      return true;
    });
    const skipped = wanted.filter((f) => !this.faults.includes(f));
    this.note(`seed ${options.seed}; faults ${this.faults.join(', ')}${skipped.length ? `; not supported here: ${skipped.join(', ')}` : ''}`);
    if (this.faults.length === 0) throw new Error('nemesis: no fault this cluster supports was selected');
  }

  private note(action: string): void {
    this.log.push({ at: now(), action });
  }

  private count(kind: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
  }

  get faultsInjected(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)]!;
  }

  private between([lo, hi]: [number, number]): number {
    return Math.round(lo + this.rand() * (hi - lo));
  }

  /** 1 .. minority distinct members, chosen by the seed. */
  private minority(): Member[] {
    const max = Math.floor((this.cluster.members.length - 1) / 2);
    const k = 1 + Math.floor(this.rand() * max);
    const pool = [...this.cluster.members];
    const out: Member[] = [];
    while (out.length < k) out.push(pool.splice(Math.floor(this.rand() * pool.length), 1)[0]!);
    return out;
  }

  /** Runs faults for `durationMs` (or until `signal`), then recovers the cluster. */
  async run(durationMs: number, signal?: AbortSignal): Promise<void> {
    const end = now() + durationMs;
    const hold = this.options.holdMs ?? [800, 2500];
    const quiet = this.options.quietMs ?? [300, 1200];
    try {
      while (now() < end && !signal?.aborted) {
        const kind = this.pick(this.faults);
        const undo = await this.inject(kind);
        await pause(Math.min(this.between(hold), Math.max(0, end - now())), signal);
        await undo();
        if (now() >= end) break;
        await pause(Math.min(this.between(quiet), Math.max(0, end - now())), signal);
      }
    } finally {
      await this.recover();
    }
  }

  /** Heals the network, resumes and restarts everything, waits until every member serves. */
  async recover(): Promise<void> {
    this.note('recover: heal network, resume paused, restart killed');
    await this.cluster.recoverAll(this.options.recoverTimeoutMs ?? 30_000);
    this.note('recovered: every member serves linearizable reads');
  }

  private async inject(kind: FaultKind): Promise<() => Promise<void>> {
    const cluster = this.cluster;
    const net = cluster.network;
    const names = cluster.members.map((m) => m.name);
    this.count(kind);
    switch (kind) {
      case 'kill':
      case 'kill-leader': {
        const victims = kind === 'kill' ? this.minority() : [await this.leaderOrAny()];
        this.note(`${kind}: SIGKILL ${victims.map(describe).join(', ')}`);
        await Promise.all(victims.map((m) => cluster.kill(m)));
        return async () => {
          await Promise.all(victims.map((m) => cluster.restart(m)));
          this.note(`restart ${victims.map(describe).join(', ')}`);
        };
      }
      case 'pause':
      case 'pause-leader': {
        const victims = kind === 'pause' ? this.minority() : [await this.leaderOrAny()];
        for (const m of victims) m.pause();
        this.note(`${kind}: SIGSTOP ${victims.map(describe).join(', ')}`);
        return async () => {
          for (const m of victims) m.resume();
          this.note(`SIGCONT ${victims.map((m) => m.name).join(', ')}`);
        };
      }
      case 'isolate': {
        const victim = this.pick(names);
        net!.isolate(victim);
        this.note(`isolate ${victim}: ${net!.describe()}`);
        return this.healer();
      }
      case 'split': {
        const shuffled = [...names];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(this.rand() * (i + 1));
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        const cut = this.minority().length;
        const groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
        net!.partition(groups);
        this.note(`split ${groups.map((g) => `{${g.join(',')}}`).join(' | ')}`);
        return this.healer();
      }
      case 'asymmetric': {
        const victim = this.pick(names);
        for (const other of names) if (other !== victim) net!.setLink(victim, other, { kind: 'drop' });
        this.note(`asymmetric: ${victim} cannot send, can receive: ${net!.describe()}`);
        return this.healer();
      }
      case 'inbound': {
        const victim = this.pick(names);
        net!.isolateInbound(victim);
        this.note(`inbound cut to ${victim}: ${net!.describe()}`);
        return this.healer();
      }
      case 'slow': {
        const victim = this.pick(names);
        const ms = this.between([20, 200]);
        net!.slow(victim, ms);
        this.note(`slow ${victim} by ${ms} ms each way`);
        return this.healer();
      }
    }
  }

  private healer(): () => Promise<void> {
    return () => {
      this.cluster.network!.heal();
      this.note('heal network');
      return Promise.resolve();
    };
  }

  private async leaderOrAny(): Promise<Member> {
    try {
      return await this.cluster.leader(3000);
    } catch {
      const m = this.pick(this.cluster.members);
      this.note(`no leader agreed within 3 s; picked ${m.name}`);
      return m;
    }
  }

  /** The log, one line per action, times relative to the nemesis start and absolute (history clock). */
  format(): string {
    return this.log
      .map((e) => `  +${String(Math.round(e.at - this.startedAt)).padStart(6)} ms  [t=${e.at.toFixed(1)}]  ${e.action}`)
      .join('\n');
  }
}

function describe(m: Member): string {
  return `${m.name} (pid ${m.pid ?? '-'})`;
}

/** The nemesis's own schedule: a delay that ends early on abort. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
