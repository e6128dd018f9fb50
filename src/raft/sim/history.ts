// The client history, in the checker's shape. Times are a logical clock bumped at every call
// and return: the simulator is single-threaded, so processing order IS real-time order, and no
// two events share a time (a tie would make the checker treat them as concurrent).

import type { KvInput, KvOutput, Operation } from '../../lincheck/index.js';
import { UNKNOWN } from '../../lincheck/index.js';

export type SimOperation = Operation<KvInput, KvOutput>;

export class HistoryRecorder {
  readonly ops: SimOperation[] = [];
  private clock = 0;

  call(clientId: number, input: KvInput): SimOperation {
    const op: SimOperation = { clientId, input, output: UNKNOWN, call: ++this.clock, return: Infinity };
    this.ops.push(op);
    return op;
  }

  complete(op: SimOperation, output: KvOutput): void {
    if (op.return !== Infinity) throw new Error('history: operation completed twice');
    op.output = output;
    op.return = ++this.clock;
  }

  /** The operation definitely did not take effect (rejected before it was proposed). */
  discard(op: SimOperation): void {
    const i = this.ops.lastIndexOf(op);
    if (i >= 0) this.ops.splice(i, 1);
  }

  get completed(): number {
    return this.ops.filter((o) => o.return !== Infinity).length;
  }
}
