import { ShoalError } from '../../src/errors/index.js';
import type { ActionHandler, CallMeta } from '../../src/transport/index.js';

/** A promise the test resolves by hand: holds handlers "in flight" without sleeping. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** The rejection of `p`, failing the test if it resolves. */
export async function rejectionOf(p: Promise<unknown>): Promise<ShoalError> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof ShoalError)) throw new Error(`expected a ShoalError, got ${String(err)}`);
    return err;
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** The handler every transport test serves: echo, typed failures, and gated slow calls. */
export function testHandler(slow?: Promise<unknown>, started?: () => void): ActionHandler {
  return async (action: string, params: unknown, meta: CallMeta) => {
    switch (action) {
      case 'echo':
        return params;
      case 'meta':
        return meta;
      case 'add': {
        const p = params as { a: number; b: number };
        return p.a + p.b;
      }
      case 'sync':
        return 'sync';
      case 'delayed': {
        // Answers out of arrival order: within each run of 64, later calls resolve first.
        const p = params as { i: number; of: number };
        await new Promise((r) => setImmediate(r));
        for (let k = 0; k < (p.of - p.i) % 64; k++) await Promise.resolve();
        return p.i;
      }
      case 'reserve':
        throw new ShoalError({ code: 'OUT_OF_STOCK', message: 'only 2 left', retryable: false, details: { left: 2 } });
      case 'crash':
        throw new Error('null pointer');
      case 'slow':
        started?.();
        return slow;
      case 'big':
        return 'x'.repeat((params as { bytes: number }).bytes);
      default:
        throw new ShoalError({ code: 'ACTION_NOT_FOUND', message: `no action ${action}`, retryable: false });
    }
  };
}
