/** An instance a call can be sent to, as discovery describes it. */
export interface Endpoint {
  readonly id: string;
  /** Relative capacity; 1 when absent. 0 drains it (picked only if every weight is 0). */
  readonly weight?: number;
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface PickContext {
  /** Affinity key (consistent hashing); other strategies ignore it. */
  readonly key?: string;
}

export interface CallOutcome {
  readonly latencyMs: number;
  readonly ok: boolean;
}

/** Uniform in [0, 1), like Math.random — but injected, so runs are reproducible. */
export type Rng = () => number;
/** Milliseconds on some monotonic clock, injected. */
export type Clock = () => number;

/**
 * A load-balancing strategy. `pick` returns one of the given endpoint objects (never a copy), or
 * undefined for an empty list. The caller reports every pick it actually sends with `onStart`,
 * and its completion with `onEnd`; strategies that keep no feedback ignore both.
 */
export interface Strategy {
  readonly name: string;
  pick<E extends Endpoint>(endpoints: readonly E[], ctx?: PickContext): E | undefined;
  onStart(endpoint: Endpoint): void;
  onEnd(endpoint: Endpoint, outcome: CallOutcome): void;
  /**
   * Drops what the strategy learned about an endpoint (e.g. it went away and registered again, so
   * the latency it showed while paused says nothing now). Calls still in flight stay counted.
   */
  forget?(endpointId: string): void;
}

/** Base for strategies that need no feedback. */
export abstract class StatelessFeedback {
  onStart(_endpoint: Endpoint): void {}
  onEnd(_endpoint: Endpoint, _outcome: CallOutcome): void {}
}

export function weightOf(endpoint: Endpoint): number {
  const w = endpoint.weight ?? 1;
  if (!Number.isFinite(w) || w < 0) {
    throw new RangeError(`endpoint ${endpoint.id}: weight must be a finite number >= 0, got ${w}`);
  }
  return w;
}

/** An index in [0, n) from an Rng, safe against an Rng that returns exactly 1. */
export function randomIndex(rng: Rng, n: number): number {
  const i = Math.floor(rng() * n);
  return i >= n ? n - 1 : i < 0 ? 0 : i;
}
