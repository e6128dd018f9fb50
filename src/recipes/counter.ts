// Linearizable counter under /shoal/counters/<name>: a compare-and-set loop on the key's mod
// revision.
//
// The key's value is JSON {"value": n, "writer": "<request id>"}: every CAS write carries the
// unique id of the add() that made it. When a CAS comes back with an unknown outcome (the
// connection died after sending it; see client.ts) the add() does NOT start over — starting over
// would apply the increment twice if the first write had landed. Instead it settles the outcome:
//   1. It sends the very same txn again (same compare on mod revision m, same value, same id).
//      Both attempts compare against m, so at most one of them can ever commit.
//   2. If that succeeds, the increment landed exactly once. If the compare fails, the key changed
//      after revision m; the first change after the revision we read at is the write that
//      followed m, and it is ours exactly when it carries our request id. It is found by
//      watching the key from that revision on (history, served from the store).
//   3. If the history was compacted, or every attempt is unknown again, the caller gets
//      OutcomeUnknownError: the counter never guesses.
// Never delete a counter key (reset() writes 0): a deleted key would make "create revision 0"
// true again and let a stale create-CAS from an earlier add() land later.
import { randomUUID } from 'node:crypto';
import type { Etcd3, ICompare, IKeyValue } from 'etcd3';
import { isOutcomeUnknown, OutcomeUnknownError } from './client.js';
import { ContentionError } from './errors.js';
import { counterKey } from './keys.js';
import { firstEvent } from './watch.js';

export interface CounterValue {
  value: number;
  /** Mod revision of the counter key (0 when it was never written). */
  modRevision: bigint;
}

export interface CounterOptions {
  /** CAS attempts before ContentionError. Default 1000. */
  maxAttempts?: number;
  /** Repeats of an outcome-unknown CAS before giving up with OutcomeUnknownError. Default 5. */
  settleAttempts?: number;
  /** Bound on reading the history while settling an unknown outcome. Default 5000 ms. */
  settleTimeoutMs?: number;
}

interface Observed {
  value: number;
  kv: IKeyValue | undefined;
  /** Store revision of the read. */
  readAt: bigint;
}

export class Counter {
  readonly key: string;
  private readonly keyBuf: Buffer;
  private readonly maxAttempts: number;
  private readonly settleAttempts: number;
  private readonly settleTimeoutMs: number;

  constructor(private readonly client: Etcd3, readonly name: string, opts: CounterOptions = {}) {
    this.key = counterKey(name);
    this.keyBuf = Buffer.from(this.key);
    this.maxAttempts = opts.maxAttempts ?? 1000;
    this.settleAttempts = opts.settleAttempts ?? 5;
    this.settleTimeoutMs = opts.settleTimeoutMs ?? 5000;
  }

  async get(): Promise<CounterValue> {
    const seen = await this.read();
    return { value: seen.value, modRevision: seen.kv ? BigInt(seen.kv.mod_revision) : 0n };
  }

  /** Adds `delta` (a safe integer) atomically and returns the value it produced. */
  async add(delta: number): Promise<CounterValue> {
    if (!Number.isSafeInteger(delta)) throw new RangeError(`delta must be a safe integer, got ${delta}`);
    return this.update((current) => current + delta);
  }

  increment(): Promise<CounterValue> {
    return this.add(1);
  }

  /** Sets the counter to 0 (by a write, never a delete: see the header). */
  reset(): Promise<CounterValue> {
    return this.update(() => 0);
  }

  private async update(next: (current: number) => number): Promise<CounterValue> {
    const writer = randomUUID();
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const seen = await this.read();
      const value = next(seen.value);
      if (!Number.isSafeInteger(value)) throw new RangeError(`counter ${this.name} would leave the safe integer range: ${value}`);
      const outcome = await this.compareAndSet(seen, value, writer);
      if (outcome !== undefined) return { value, modRevision: outcome };
    }
    throw new ContentionError(`counter ${this.name}: no compare-and-set succeeded in ${this.maxAttempts} attempts`);
  }

  /** The new mod revision if this write landed, undefined if another write came first. */
  private async compareAndSet(seen: Observed, value: number, writer: string): Promise<bigint | undefined> {
    const compare: ICompare = seen.kv
      ? { key: this.keyBuf, target: 'Mod', result: 'Equal', mod_revision: seen.kv.mod_revision }
      : { key: this.keyBuf, target: 'Create', result: 'Equal', create_revision: 0 };
    const txn = {
      compare: [compare],
      success: [{ request_put: { key: this.keyBuf, value: Buffer.from(JSON.stringify({ value, writer })) } }],
      failure: [],
    };
    let lastUnknown: unknown;
    for (let attempt = 1; attempt <= this.settleAttempts; attempt++) {
      try {
        const res = await this.client.kv.txn(txn);
        if (res.succeeded) return BigInt(res.header.revision);
        if (lastUnknown === undefined) return undefined; // a plain conflict: read again
        return await this.settle(seen, writer);
      } catch (err) {
        if (!isOutcomeUnknown(err)) throw err;
        lastUnknown = err;
      }
    }
    throw new OutcomeUnknownError(`counter ${this.name} add`, lastUnknown);
  }

  /** After a failed repeat of an unknown CAS: was the first write after our read ours? */
  private async settle(seen: Observed, writer: string): Promise<bigint | undefined> {
    const signal = AbortSignal.timeout(this.settleTimeoutMs);
    let ev;
    try {
      ev = await firstEvent(this.client, { key: this.key, startRevision: seen.readAt + 1n }, signal);
    } catch (err) {
      throw new OutcomeUnknownError(`counter ${this.name} add (reading the history after revision ${seen.readAt})`, err);
    }
    if (ev.type !== 'Put') return undefined;
    return parseStored(ev.kv.value).writer === writer ? BigInt(ev.kv.mod_revision) : undefined;
  }

  private async read(): Promise<Observed> {
    const res = await this.client.kv.range({ key: this.keyBuf });
    const kv = res.kvs[0];
    return { value: kv ? parseStored(kv.value).value : 0, kv, readAt: BigInt(res.header.revision) };
  }
}

/** Accepts the recipe's JSON and a bare integer (a counter set by hand with etcdctl). */
function parseStored(raw: Buffer): { value: number; writer: string | undefined } {
  const text = raw.toString('utf8').trim();
  if (/^-?\d+$/.test(text)) return { value: checkedInt(Number(text), text), writer: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`counter value is neither an integer nor JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const obj = parsed as { value?: unknown; writer?: unknown };
  if (typeof obj !== 'object' || obj === null || typeof obj.value !== 'number') {
    throw new Error(`counter value has no numeric "value": ${JSON.stringify(text.slice(0, 80))}`);
  }
  return { value: checkedInt(obj.value, text), writer: typeof obj.writer === 'string' ? obj.writer : undefined };
}

function checkedInt(n: number, text: string): number {
  if (!Number.isSafeInteger(n)) throw new Error(`counter value is not a safe integer: ${JSON.stringify(text.slice(0, 80))}`);
  return n;
}
