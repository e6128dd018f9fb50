// A mutual-exclusion lock, optionally with fencing tokens.
//
// acquire is a try-lock: it fails while someone (including the caller) holds the lock; a blocking
// acquire is the same operation that only ever reports success or times out. When an acquire
// reports a fencing token, tokens must strictly increase across successful acquisitions.
// Lease expiry is not modelled: a holder keeps the lock until it releases it.

import { hashString } from '../bitset.js';
import { UNKNOWN, type Model } from '../types.js';

export type Owner = string | number;
export type LockInput = { type: 'acquire'; owner: Owner } | { type: 'release'; owner: Owner };
export interface LockOutput {
  ok: boolean;
  token?: number;
}
export interface LockState {
  holder: Owner | null;
  /** Highest fencing token handed out so far (-Infinity: none). */
  lastToken: number;
}

export function lockModel(): Model<LockState, LockInput, LockOutput> {
  return {
    name: 'lock',
    init: () => ({ holder: null, lastToken: -Infinity }),
    step(state, input, output) {
      if (input.type === 'acquire') {
        const free = state.holder === null;
        // An acquire of unknown outcome takes a free lock; its token is unknown, so later tokens
        // are only held to the ones actually seen.
        if (output === UNKNOWN) return { ok: true, state: free ? { ...state, holder: input.owner } : state };
        if (output.ok !== free) return { ok: false, state };
        if (!free) return { ok: true, state };
        if (output.token === undefined) return { ok: true, state: { ...state, holder: input.owner } };
        if (!(output.token > state.lastToken)) return { ok: false, state };
        return { ok: true, state: { holder: input.owner, lastToken: output.token } };
      }
      const held = state.holder === input.owner;
      if (output !== UNKNOWN && output.ok !== held) return { ok: false, state };
      return { ok: true, state: held ? { ...state, holder: null } : state };
    },
    hash: (s) => hashString(`${typeof s.holder}:${String(s.holder)}:${s.lastToken}`),
    equal: (a, b) => a.holder === b.holder && a.lastToken === b.lastToken,
    describe(input, output) {
      const who = JSON.stringify(input.owner);
      if (output === UNKNOWN) return `${input.type}(${who}) -> ?`;
      const token = output.token === undefined ? '' : ` token ${output.token}`;
      return `${input.type}(${who}) -> ${output.ok ? 'ok' : 'failed'}${token}`;
    },
    describeState: (s) => `holder ${s.holder === null ? 'none' : JSON.stringify(s.holder)}, last token ${s.lastToken}`,
  };
}
