// Finishing in-doubt branches from the participant's side, so any instance can end a transaction
// whose coordinator crashed. For a branch prepared long enough ago:
//   - a stored decision is obeyed;
//   - no decision and an owner key: the coordinator is alive and still deciding — wait;
//   - no decision and no owner key: the coordinator's lease expired (the owner key is written
//     before any prepare is sent, so it did exist) and nobody will decide: presume abort by
//     CAS-creating `abort` — which returns `commit` instead if the coordinator won the race.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import type { Gid, TxnDecision } from '../types.js';
import { ownerAlive, presumeAbort, readDecision } from './decision.js';
import { ownerKey } from './keys.js';

/** The decision to apply to an in-doubt branch of gid, or undefined while its coordinator lives. */
export async function decisionForInDoubt(coord: Etcd3, gid: Gid, by: string): Promise<TxnDecision | undefined> {
  const stored = await readDecision(coord, gid);
  if (stored !== undefined) return stored;
  if (await ownerAlive(coord, ownerKey(gid))) return undefined;
  return presumeAbort(coord, gid, by);
}

export interface ResolvePass {
  committed: number;
  aborted: number;
  /** Branches whose coordinator is still alive and undecided. */
  waiting: number;
  failed: number;
}

export interface PeriodicOptions {
  logger: Logger;
  /** Between passes. Default 1000. */
  intervalMs?: number;
}

/** Runs `pass` every intervalMs (one at a time) between start() and stop(). */
export abstract class PeriodicResolver {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = true;
  protected readonly logger: Logger;
  private readonly intervalMs: number;

  protected constructor(opts: PeriodicOptions) {
    this.logger = opts.logger.child({ component: 'twopc-resolver' });
    this.intervalMs = opts.intervalMs ?? 1000;
  }

  /** One pass over the in-doubt branches (also what start() runs periodically). */
  abstract resolveOnce(): Promise<ResolvePass>;

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.resolveOnce()
        .then((pass) => {
          if (pass.committed + pass.aborted + pass.failed > 0) this.logger.info(pass, 'resolved in-doubt branches');
        })
        .catch((err: unknown) => this.logger.warn({ err }, 'in-doubt pass failed'))
        .finally(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }
}
