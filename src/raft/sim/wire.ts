// Client <-> node messages in the simulation.

import type { KvInput, KvOutput } from '../../lincheck/index.js';

export interface ClientRequest {
  /** Unique per operation (retries reuse it): `${clientId}:${seq}`. */
  reqId: string;
  clientId: number;
  /** Per-client operation number, increasing. */
  seq: number;
  input: KvInput;
}

export type ClientResponse =
  | { reqId: string; ok: true; output: KvOutput }
  /** Rejected before it was proposed: it will never take effect. */
  | { reqId: string; ok: false; leaderHint: number };

/** Network ids of clients, disjoint from node ids (1..n). */
export const CLIENT_ID_BASE = 100;
