// Liveness is "this event loop answers"; readiness is every named check passing and the instance
// not draining. A check that throws, rejects or outlasts its bound counts as failing, so one stuck
// dependency makes /readyz answer 503 promptly instead of hanging the probe.
import type { Health } from './types.js';

/** Name under which the draining flag appears in ready().checks (true while not draining). */
export const NOT_DRAINING_CHECK = 'notDraining';

export interface HealthOptions {
  /** Bound on each readiness check; default 2,000 ms. */
  checkTimeoutMs?: number;
}

export class HealthState implements Health {
  private readonly checks = new Map<string, () => boolean | Promise<boolean>>();
  private draining = false;
  private readonly checkTimeoutMs: number;

  constructor(options: HealthOptions = {}) {
    this.checkTimeoutMs = options.checkTimeoutMs ?? 2000;
    if (!(this.checkTimeoutMs > 0)) throw new RangeError(`checkTimeoutMs must be positive, got ${this.checkTimeoutMs}`);
  }

  addReadinessCheck(name: string, check: () => boolean | Promise<boolean>): void {
    if (name === '' || name === NOT_DRAINING_CHECK) throw new Error(`readiness check name is reserved or empty: "${name}"`);
    if (this.checks.has(name)) throw new Error(`readiness check already added: ${name}`);
    this.checks.set(name, check);
  }

  setDraining(draining: boolean): void {
    this.draining = draining;
  }

  isDraining(): boolean {
    return this.draining;
  }

  live(): { ok: true } {
    return { ok: true };
  }

  async ready(): Promise<{ ok: boolean; checks: Record<string, boolean> }> {
    const entries = [...this.checks];
    const results = await Promise.all(entries.map(([, check]) => this.run(check)));
    const checks: Record<string, boolean> = { [NOT_DRAINING_CHECK]: !this.draining };
    entries.forEach(([name], i) => {
      checks[name] = results[i] === true;
    });
    return { ok: Object.values(checks).every(Boolean), checks };
  }

  private async run(check: () => boolean | Promise<boolean>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.checkTimeoutMs);
      timer.unref();
    });
    try {
      // Promise.resolve().then: a check that throws synchronously is a failing check too.
      return (await Promise.race([Promise.resolve().then(check), timeout])) === true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}
