// Bounds the number of distinct values a label may take. Routes and actions come from code, but a
// caller that passes a raw URL path or an unknown action name would otherwise grow a series per
// request (ids in paths) until Prometheus and this process's memory give out.

export const OVERFLOW_LABEL = '__other__';

export class LabelGuard {
  private readonly seen = new Set<string>();

  constructor(private readonly maxValues: number) {
    if (!Number.isInteger(maxValues) || maxValues < 1) throw new RangeError(`maxValues must be a positive integer, got ${maxValues}`);
  }

  /** The value itself while fewer than maxValues are known, then OVERFLOW_LABEL for new ones. */
  admit(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.maxValues) return OVERFLOW_LABEL;
    this.seen.add(value);
    return value;
  }
}
