// Stores parse their input with the same zod schemas the runtime validates params with, so a
// store called directly (tests, another module) keeps the same invariants.
import type { z } from 'zod';
import { invalidArgument } from './errors.js';

export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) {
    // Issues carry paths and messages only, never the offending values (a password must not
    // travel back in an error).
    const issues = result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message, code: i.code }));
    throw invalidArgument(`invalid input: ${issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, { issues });
  }
  return result.data;
}
