// Printing histories for people.

import { isPending } from './search.js';
import { UNKNOWN, type Model, type Operation } from './types.js';

function time(t: number): string {
  return t === Infinity ? '?' : String(t);
}

/** `notes` adds a remark after an operation's line. */
export function formatHistory<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], notes = new Map<Operation<I, O>, string>()): string {
  const rows = [...ops]
    .sort((a, b) => a.call - b.call || a.return - b.return)
    .map((op) => {
      const note = notes.get(op) ?? (isPending(op) ? 'outcome unknown' : '');
      return [
        `client ${String(op.clientId)}`,
        model.describe(op.input, isPending(op) ? UNKNOWN : op.output),
        `[${time(op.call)}, ${time(op.return)}]${note ? `  ${note}` : ''}`,
      ];
    });
  const widths = [0, 1].map((c) => Math.max(0, ...rows.map((r) => r[c]!.length)));
  return rows.map((r) => `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`).join('\n');
}
