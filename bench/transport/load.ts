// The closed-loop load generator, the same shape as the Moleculer anchor's runLoad (lib.js):
// `concurrency` workers each call back-to-back until the duration is over; one latency sample
// per call in nanoseconds; percentiles by index into the sorted samples.
export interface LoadResult {
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
}

export async function runLoad(fn: () => Promise<unknown>, concurrency: number, durationMs: number): Promise<LoadResult> {
  const lat: number[] = [];
  let errors = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(durationMs) * 1_000_000n;
  async function worker(): Promise<void> {
    for (;;) {
      const s = process.hrtime.bigint();
      if (s >= deadline) return;
      try {
        await fn();
      } catch (e) {
        errors++;
        if (errors < 5) console.error((e as Error).message);
      }
      lat.push(Number(process.hrtime.bigint() - s));
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  const sorted = Float64Array.from(lat).sort();
  const pct = (p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! / 1e6 : NaN);
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    concurrency,
    requests: sorted.length,
    errors,
    seconds: +elapsedS.toFixed(4),
    rps: Math.round(sorted.length / elapsedS),
    p50_ms: +pct(0.5).toFixed(4),
    p90_ms: +pct(0.9).toFixed(4),
    p99_ms: +pct(0.99).toFixed(4),
    max_ms: +(sorted[sorted.length - 1]! / 1e6).toFixed(4),
    mean_ms: +(sum / sorted.length / 1e6).toFixed(4),
  };
}
