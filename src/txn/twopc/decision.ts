// The decision record. It is written once, by a compare-and-set on the key's create revision:
// the coordinator writes commit or abort after phase one, a recoverer writes abort when the
// coordinator is gone (presumed abort). Whoever is first wins and everyone — including the
// loser — obeys what is stored, so a slow coordinator and a recoverer can never disagree.
//
// A CAS-create is safe to repeat: when an attempt's outcome is unknown (OutcomeUnknownError from
// recipes' client), running the same guarded txn again either creates the key (the first attempt
// did not land) or takes the failure branch and reads what is stored (ours or the winner's).
import type { Etcd3 } from 'etcd3';
import { isOutcomeUnknown } from '../../recipes/index.js';
import type { Gid, TxnDecision } from '../types.js';
import { decisionKey } from './keys.js';

/** Attempts of a guarded (repeat-safe) write whose outcome stayed unknown. */
const UNKNOWN_OUTCOME_ATTEMPTS = 5;

export function parseDecision(gid: Gid, raw: Buffer | string): TxnDecision {
  const value = JSON.parse(raw.toString()) as Partial<TxnDecision>;
  if (value.gid !== gid || (value.decision !== 'commit' && value.decision !== 'abort') || typeof value.by !== 'string' || typeof value.at !== 'string') {
    throw new Error(`malformed 2PC decision at ${decisionKey(gid)}: ${raw.toString()}`);
  }
  return { gid, decision: value.decision, by: value.by, at: value.at };
}

/** The stored decision, or undefined when none was written (yet). A linearizable read. */
export async function readDecision(coord: Etcd3, gid: Gid): Promise<TxnDecision | undefined> {
  const res = await coord.kv.range({ key: Buffer.from(decisionKey(gid)) });
  const kv = res.kvs[0];
  return kv ? parseDecision(gid, kv.value) : undefined;
}

/**
 * Writes `decision` unless a decision is already stored; returns the stored one either way (the
 * caller must act on the returned decision, never on the one it asked for).
 */
export async function writeDecision(coord: Etcd3, gid: Gid, decision: TxnDecision['decision'], by: string, now: () => Date = () => new Date()): Promise<TxnDecision> {
  const key = Buffer.from(decisionKey(gid));
  const record: TxnDecision = { gid, decision, by, at: now().toISOString() };
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await coord.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value: Buffer.from(JSON.stringify(record)) } }],
        failure: [{ request_range: { key } }],
      });
      if (res.succeeded) return record;
      const kv = res.responses[0]?.response_range?.kvs[0];
      if (!kv) throw new Error(`decision CAS on ${decisionKey(gid)} failed its compare but the key is absent`);
      return parseDecision(gid, kv.value);
    } catch (err) {
      if (!isOutcomeUnknown(err) || attempt >= UNKNOWN_OUTCOME_ATTEMPTS) throw err;
    }
  }
}

/** Stores `abort` for gid if nothing is stored; returns what is stored (abort, or an earlier commit). */
export function presumeAbort(coord: Etcd3, gid: Gid, by: string): Promise<TxnDecision> {
  return writeDecision(coord, gid, 'abort', by);
}

/** True while some coordinator's owner key for gid exists (its lease is alive). */
export async function ownerAlive(coord: Etcd3, ownerKeyName: string): Promise<boolean> {
  const res = await coord.kv.range({ key: Buffer.from(ownerKeyName), count_only: true });
  return Number(res.count) > 0;
}
