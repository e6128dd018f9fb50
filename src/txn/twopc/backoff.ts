// Capped exponential backoff with full jitter, and a sleep that an AbortSignal cuts short.

export interface BackoffOptions {
  /** First delay ceiling in ms. Default 50. */
  initialMs?: number;
  /** Largest delay ceiling in ms. Default 2000. */
  maxMs?: number;
}

export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const initial = opts.initialMs ?? 50;
  const max = opts.maxMs ?? 2000;
  return random() * Math.min(max, initial * 2 ** Math.min(attempt - 1, 30));
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(signal.reason); return; }
    const onAbort = (): void => { clearTimeout(timer); reject(signal!.reason); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
