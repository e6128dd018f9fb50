// Contenders take the recipes' lock (src/recipes: a lease-backed key whose create revision is the
// fencing token) during faults and use it to guard two resources:
//   - in-process: before each use the holder checks isHeld() and, in the same synchronous step,
//     records the use. A holder's tenure runs from its acquire's return to the last moment it saw
//     isHeld() true. No use may fall inside another holder's tenure: isHeld() trusts the lease
//     only until its local-clock deadline, which comes before the server can expire it, and the
//     key goes only with the lease or the holder's own release.
//   - in the store: a key written only by a Txn that refuses a token lower than the highest one
//     written so far (the fence). Its history must show tokens never decreasing.
// The acquire/release history is also checked against the lock model (strictly increasing
// tokens, no two holders at once).
import { lockModel, UNKNOWN, type LockInput, type LockOutput, type Operation } from '../../src/lincheck/index.js';
import { acquireLock, createCoordClient, type HeldLock } from '../../src/recipes/index.js';
import type { Cluster } from '../support/cluster.js';
import { checkWith, EtcdRpc, now, prng } from '../support/history.js';
import { rangeAnywhere, readHistory } from './watch-workload.js';

export interface LockWorkloadOptions {
  cluster: Cluster;
  name: string;
  contenders: number;
  durationMs: number;
  seed: number;
  ttlSeconds?: number;
  /** Called once setup is done; resolves when the nemesis has finished and recovered the cluster. */
  startFaults?: () => Promise<void>;
}

export interface LockWorkloadResult {
  ops: number;
  unknown: number;
  acquisitions: number;
  fencedWrites: number;
  rejectedStale: number;
  lockCheck: string;
  problems: string[];
}

export interface Tenure {
  owner: string;
  token: number;
  from: number;
  to: number;
}

export interface Use {
  owner: string;
  token: number;
  at: number;
}

/** Uses of the in-process resource that fall inside another holder's tenure. */
export function exclusionProblems(uses: readonly Use[], tenures: readonly Tenure[]): string[] {
  const problems: string[] = [];
  for (const use of uses) {
    const other = tenures.find((t) => t.owner !== use.owner && t.from < use.at && use.at < t.to);
    if (other) {
      problems.push(`in-process: ${use.owner} (token ${use.token}) used the resource at ${use.at.toFixed(1)} inside ${other.owner}'s tenure [${other.from.toFixed(1)}, ${other.to.toFixed(1)}] (token ${other.token})`);
    }
  }
  return problems;
}

const pad = (token: number): string => String(token).padStart(20, '0');

export async function runLockWorkload(opts: LockWorkloadOptions): Promise<LockWorkloadResult> {
  const endpoints = opts.cluster.endpoints;
  const fenceKey = `/jepsen/lock/${opts.name}/fence`;
  const resourceKey = `/jepsen/lock/${opts.name}/resource`;
  const ops: Operation<LockInput, LockOutput>[] = [];
  const tenures: Tenure[] = [];
  const uses: Use[] = [];
  const accepted: { token: number; value: string }[] = [];
  let fencedWrites = 0;
  let rejectedStale = 0;
  let unknown = 0;

  const setup = new EtcdRpc(endpoints[0]!);
  try {
    await setup.put(fenceKey, pad(0), 5000);
  } finally {
    setup.close();
  }
  const end = now() + opts.durationMs;
  const faultsDone = opts.startFaults?.();

  await Promise.all(Array.from({ length: opts.contenders }, async (_, c) => {
    const rand = prng(opts.seed * 131 + c);
    const rotated = endpoints.map((_, i) => endpoints[(i + c) % endpoints.length]!);
    const client = createCoordClient(rotated, { callTimeoutMs: 1500 });
    const rpcs = rotated.map((e) => new EtcdRpc(e));
    let at = 0;
    try {
      for (let attempt = 1; now() < end; attempt++) {
        const owner = `c${c}#${attempt}`;
        const call = now();
        let lock: HeldLock;
        try {
          lock = await acquireLock(client, opts.name, { ttlSeconds: opts.ttlSeconds ?? 3, timeoutMs: Math.max(500, end - now()) });
        } catch {
          // It may have held the lock for a moment before giving up (its key queued, then withdrawn).
          unknown++;
          ops.push({ clientId: owner, input: { type: 'acquire', owner }, output: UNKNOWN, call, return: Infinity });
          ops.push({ clientId: owner, input: { type: 'release', owner }, output: UNKNOWN, call, return: Infinity });
          continue;
        }
        const acquired = now();
        const token = Number(lock.fencingToken);
        ops.push({ clientId: owner, input: { type: 'acquire', owner }, output: { ok: true, token }, call, return: acquired });
        const writes = 1 + Math.floor(rand() * 3);
        let lastHeld = acquired;
        for (let i = 0; i < writes; i++) {
          if (!lock.isHeld()) break;
          lastHeld = now();
          uses.push({ owner, token, at: lastHeld });
          const value = `${pad(token)}:${owner}:${i}`;
          fencedWrites++;
          try {
            const res = await rpcs[at]!.txn({
              compare: [{ key: Buffer.from(fenceKey), result: 'Greater', target: 'Value', value: Buffer.from(pad(token)) }],
              success: [],
              failure: [
                { request_put: { key: Buffer.from(fenceKey), value: Buffer.from(pad(token)) } },
                { request_put: { key: Buffer.from(resourceKey), value: Buffer.from(value) } },
              ],
            }, 1000);
            if (res.succeeded) rejectedStale++;
            else accepted.push({ token, value });
          } catch {
            at = (at + 1) % rpcs.length;
          }
          await new Promise((r) => setTimeout(r, rand() * 30));
        }
        const heldAtRelease = lock.isHeld();
        const releaseCall = now();
        tenures.push({ owner, token, from: acquired, to: heldAtRelease ? releaseCall : lastHeld });
        let released = false;
        try {
          await lock.release();
          released = true;
        } catch {
          // The lease expires on its own within the TTL.
        }
        if (heldAtRelease && released) {
          ops.push({ clientId: owner, input: { type: 'release', owner }, output: { ok: true }, call: releaseCall, return: now() });
        } else {
          // Lost (lease may have expired) or release outcome unknown: freed at some time after acquiring.
          unknown++;
          ops.push({ clientId: owner, input: { type: 'release', owner }, output: UNKNOWN, call: acquired, return: Infinity });
        }
      }
    } finally {
      client.close();
      for (const r of rpcs) r.close();
    }
  }));
  await faultsDone;

  const problems = exclusionProblems(uses, tenures);
  // The fenced key's history: tokens never decrease, and every acknowledged write is in it.
  const res = await rangeAnywhere(endpoints, resourceKey, undefined);
  const history = res.lastModRevision > 0n ? await readHistory(endpoints, resourceKey, undefined, 1n, res.lastModRevision) : [];
  let last = -1;
  for (const e of history) {
    const token = Number(e.value.split(':')[0]);
    if (token < last) problems.push(`fenced resource: write with token ${token} after token ${last} (revision ${e.revision}, ${e.value})`);
    last = Math.max(last, token);
  }
  const values = new Set(history.map((e) => e.value));
  for (const a of accepted) if (!values.has(a.value)) problems.push(`fenced resource: acknowledged write ${a.value} is missing from its history`);
  // No token is handed out twice; that they strictly increase in acquisition order is the lock model's check.
  const byToken = new Map<number, string>();
  for (const t of tenures) {
    const prev = byToken.get(t.token);
    if (prev) problems.push(`token ${t.token} handed to both ${prev} and ${t.owner}`);
    byToken.set(t.token, t.owner);
  }
  const checked = checkWith(lockModel(), ops);
  if (checked.result.outcome === 'illegal') problems.push(`lock history is not linearizable:\n${checked.result.failure?.text ?? ''}`);
  else if (checked.result.outcome !== 'ok') problems.push(`lock history check inconclusive (${checked.result.outcome})`);

  return {
    ops: ops.length + fencedWrites,
    unknown,
    acquisitions: tenures.length,
    fencedWrites,
    rejectedStale,
    lockCheck: checked.result.outcome,
    problems,
  };
}
