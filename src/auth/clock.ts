/** Milliseconds since the Unix epoch. Injected wherever expiry is decided, so tests can move time. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/** JWT NumericDate (whole seconds) for a clock reading. */
export function epochSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}
