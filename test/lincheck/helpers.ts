import { UNKNOWN, type Operation } from '../../src/lincheck/index.js';

/** An operation; `ret` omitted means the outcome is unknown. */
export function op<I, O>(clientId: number, input: I, output: O, call: number, ret?: number): Operation<I, O> {
  return ret === undefined
    ? { clientId, input, output: UNKNOWN, call, return: Infinity }
    : { clientId, input, output, call, return: ret };
}

export const get = { type: 'get' } as const;
export const put = (value: number | null) => ({ type: 'put', value }) as const;
export const cas = (expect: number | null, value: number) => ({ type: 'cas', expect, value }) as const;
