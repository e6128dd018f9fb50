import { isShoalError } from '../errors/index.js';

export type FallbackOptions<T> = {
  /** Which failures fall back: ShoalError codes, or a predicate over anything thrown. */
  on: readonly string[] | ((error: unknown) => boolean);
} & ({ value: T } | { compute: (error: unknown) => T | Promise<T> });

/**
 * Answers with a fallback when the call fails with a matching error; other errors pass through.
 * `compute` receives the error, so a fallback can say why it served stale data.
 */
export class Fallback<T> {
  private readonly matches: (error: unknown) => boolean;

  constructor(private readonly options: FallbackOptions<T>) {
    const on = options.on;
    this.matches = typeof on === 'function' ? on : (e) => isShoalError(e) && on.includes(e.code);
  }

  async execute(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (!this.matches(error)) throw error;
      return 'value' in this.options ? this.options.value : this.options.compute(error);
    }
  }
}
