/** Injected time: `now` in ms on a monotonic clock, and a way to wait on that same clock. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Uniform in [0, 1), injected. */
export type Rng = () => number;

/** Only the parts of an endpoint resilience looks at (structurally the balance/ Endpoint). */
export interface EndpointRef {
  readonly id: string;
  readonly metadata?: Readonly<Record<string, string>>;
}
