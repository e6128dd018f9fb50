// A closed-loop HTTP load: `concurrency` workers, each sending its next request as soon as the
// previous one finished, every outcome recorded with its start and end time (performance.now()).
// Each request names its own client in X-Forwarded-For (the gateway runs with trust-proxy in these
// tests): many simulated clients, so the gateway's per-IP limit (600/min) applies to each of them
// as it would in front of real users, instead of refusing one loopback address after 600 calls.
import { Pool } from 'undici';

export interface Sample {
  start: number;
  end: number;
  /** HTTP status, 0 when the request failed without one. */
  status: number;
  /** Error code (from the body's error.code or the client's error) when not a good 200. */
  error?: string;
}

export interface WindowStats {
  requests: number;
  failures: number;
  failureRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Outcome → count, failures only. */
  errors: Record<string, number>;
}

export class ClosedLoad {
  readonly samples: Sample[] = [];
  private readonly pool: Pool;
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    origin: string,
    private readonly path: string,
    private readonly headers: Record<string, string>,
    private readonly concurrency: number,
    /** A 200 body must satisfy this (the right item came back). */
    private readonly check: (body: unknown) => boolean,
    /** Bound on one request; far above the gateway's own 5 s call timeout. */
    private readonly requestBoundMs = 15_000,
  ) {
    this.pool = new Pool(origin, { connections: concurrency, pipelining: 1 });
  }

  start(): void {
    if (this.running) throw new Error('load already running');
    this.running = true;
    this.loops = Array.from({ length: this.concurrency }, (_, w) => this.loop(w));
  }

  /** Stops sending and resolves once every request in flight has an outcome. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  async close(): Promise<void> {
    await this.stop();
    await this.pool.close();
  }

  private async loop(worker: number): Promise<void> {
    for (let n = 0; this.running; n++) {
      const start = performance.now();
      const sample: Sample = { start, end: start, status: 0 };
      try {
        const res = await this.pool.request({
          path: this.path,
          method: 'GET',
          headers: { ...this.headers, 'x-forwarded-for': `10.${worker}.0.${n & 255}` },
          headersTimeout: this.requestBoundMs,
          bodyTimeout: this.requestBoundMs,
        });
        sample.status = res.statusCode;
        const body: unknown = await res.body.json().catch(() => undefined);
        if (res.statusCode !== 200) sample.error = `${res.statusCode} ${(body as { error?: { code?: string } } | undefined)?.error?.code ?? '?'}`;
        else if (!this.check(body)) sample.error = '200 wrong body';
      } catch (err) {
        sample.error = `client ${(err as { code?: string }).code ?? (err as Error).message}`;
      }
      sample.end = performance.now();
      this.samples.push(sample);
    }
  }
}

/** Requests that started in [from, to): each one's outcome, whenever it came. */
export function windowStats(samples: readonly Sample[], from: number, to: number): WindowStats {
  const inside = samples.filter((s) => s.start >= from && s.start < to);
  const latencies = inside.map((s) => s.end - s.start).sort((a, b) => a - b);
  const errors: Record<string, number> = {};
  for (const s of inside) if (s.error !== undefined) errors[s.error] = (errors[s.error] ?? 0) + 1;
  const failures = Object.values(errors).reduce((a, b) => a + b, 0);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { requests: inside.length, failures, failureRate: inside.length === 0 ? NaN : failures / inside.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: latencies.at(-1) ?? NaN, errors };
}

/** Good answers completed per second, in whole-second buckets from `from`. */
export function goodPerSecond(samples: readonly Sample[], from: number, seconds: number): number[] {
  const buckets = new Array<number>(seconds).fill(0);
  for (const s of samples) {
    if (s.error !== undefined) continue;
    const i = Math.floor((s.end - from) / 1000);
    if (i >= 0 && i < seconds) buckets[i]!++;
  }
  return buckets;
}
