// Client-side histories for linearizability checks against an etcd v3 API cluster.
//
// Every recorded operation is exactly ONE gRPC attempt, sent to one member with its own deadline,
// on a raw gRPC stub (no etcd3 client, whose default fault handling retries a failed call on
// another member: a CAS that committed on the first attempt then reports "compare failed" on the
// second, etcd issue 14890). Times are `performance.now()` (monotonic ms).
//
// Outcomes:
//   - an answer                  → recorded with its output;
//   - a failure that proves the request was never applied → not recorded at all (it constrains
//     nothing), counted in stats.notApplied. Only these qualify (see `classifyFailure`):
//       * "No connection established": grpc-js had no connection to put the call on, so no byte
//         of it left this process;
//       * "etcdserver: no leader": with the `hasleader` metadata we send, etcd's unary
//         interceptor answers this before the handler runs (v3rpc/interceptor.go);
//       * "etcdserver: too many requests": checked in processInternalRaftRequestOnce before the
//         proposal is made;
//       * "raft proposal dropped": raft's Propose refused it, returned before anything waits;
//   - anything else (deadline exceeded, connection reset, "request timed out", "leader changed",
//     unknown codes) → UNKNOWN: it may have been applied at any time after its call, so it is
//     recorded with return = Infinity. When in doubt, UNKNOWN.
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import {
  check,
  kvModel,
  UNKNOWN,
  type CheckResult,
  type KvInput,
  type KvOutput,
  type Model,
  type Operation,
} from '../../src/lincheck/index.js';
import { seededRng } from '../../src/balance/index.js';

// ---------------------------------------------------------------------------------------------
// Raw etcd v3 gRPC

const require = createRequire(import.meta.url);
const PROTO = path.join(path.dirname(require.resolve('etcd3')), '..', 'proto', 'rpc.proto');
const definition = loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const etcdserverpb = (grpc.loadPackageDefinition(definition) as unknown as { etcdserverpb: Record<string, grpc.ServiceClientConstructor> })
  .etcdserverpb;

/** Fast reconnects: a restarted member should be dialed again within a fraction of a second. */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 300,
  'grpc.min_reconnect_backoff_ms': 50,
  // Each EtcdRpc gets its own channel: one client's broken connection must not be shared.
  'grpc.use_local_subchannel_pool': 1,
};

export interface KeyValue {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  lease: string;
}
export interface ResponseHeader {
  cluster_id: string;
  member_id: string;
  revision: string;
  raft_term: string;
}
export interface RangeResponse { header: ResponseHeader; kvs: KeyValue[]; count: string; more: boolean }
export interface PutResponse { header: ResponseHeader }
export interface TxnResponse { header: ResponseHeader; succeeded: boolean; responses: unknown[] }
export interface StatusResponse { header: ResponseHeader; leader: string; raftTerm: string; raftIndex: string; errors: string[] }
export interface MemberListResponse { header: ResponseHeader; members: { ID: string; name: string; peerURLs: string[]; clientURLs: string[] }[] }
export interface WatchEvent { type: 'Put' | 'Delete'; kv: KeyValue }
/**
 * Enum values are the names in etcd3's rpc.proto ('Equal', 'Mod', ...). proto-loader encodes an
 * unknown name as 0 without complaint (Equal / Version), which silently turns a compare on a value
 * into one on the version: these types keep such a typo from compiling.
 */
export interface Compare {
  key: Buffer;
  result: 'Equal' | 'Greater' | 'Less' | 'NotEqual';
  target: 'Version' | 'Create' | 'Mod' | 'Value' | 'Lease';
  version?: string;
  create_revision?: string;
  mod_revision?: string;
  value?: Buffer;
  lease?: string;
}
export interface RequestOp {
  request_put?: { key: Buffer; value: Buffer; lease?: string };
  request_range?: { key: Buffer; range_end?: Buffer };
  request_delete_range?: { key: Buffer; range_end?: Buffer };
}
export interface TxnRequest { compare: Compare[]; success: RequestOp[]; failure: RequestOp[] }
export interface WatchResponse {
  header: ResponseHeader;
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  events: WatchEvent[];
}

type Unary = (req: unknown, md: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => grpc.ClientUnaryCall;

/** One member's etcd v3 API over raw gRPC: one attempt per call, a deadline per call. */
export class EtcdRpc {
  private readonly stubs = new Map<string, grpc.Client>();

  constructor(
    readonly endpoint: string,
    /** Send `hasleader: true`: a member without a leader refuses at once instead of hanging. */
    private readonly requireLeader = true,
  ) {}

  private stub(service: string): grpc.Client {
    let stub = this.stubs.get(service);
    if (!stub) {
      const Ctor = etcdserverpb[service];
      if (!Ctor) throw new Error(`no service ${service} in rpc.proto`);
      stub = new Ctor(this.endpoint.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      this.stubs.set(service, stub);
    }
    return stub;
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.requireLeader) md.set('hasleader', 'true');
    return md;
  }

  call<T>(service: string, method: string, req: unknown, timeoutMs: number): Promise<T> {
    const stub = this.stub(service) as unknown as Record<string, Unary>;
    const fn = stub[method];
    if (typeof fn !== 'function') throw new Error(`no method ${service}.${method}`);
    return new Promise<T>((resolve, reject) => {
      fn.call(stub, req, this.metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  range(key: string, timeoutMs: number, opts: { rangeEnd?: string; serializable?: boolean; revision?: string } = {}): Promise<RangeResponse> {
    return this.call('KV', 'Range', {
      key: Buffer.from(key),
      ...(opts.rangeEnd !== undefined ? { range_end: Buffer.from(opts.rangeEnd) } : {}),
      serializable: opts.serializable ?? false,
      ...(opts.revision !== undefined ? { revision: opts.revision } : {}),
    }, timeoutMs);
  }

  put(key: string, value: string, timeoutMs: number, lease?: string): Promise<PutResponse> {
    return this.call('KV', 'Put', { key: Buffer.from(key), value: Buffer.from(value), ...(lease ? { lease } : {}) }, timeoutMs);
  }

  txn(req: TxnRequest, timeoutMs: number): Promise<TxnResponse> {
    return this.call('KV', 'Txn', req, timeoutMs);
  }

  status(timeoutMs: number): Promise<StatusResponse> {
    return this.call('Maintenance', 'Status', {}, timeoutMs);
  }

  memberList(timeoutMs: number): Promise<MemberListResponse> {
    return this.call('Cluster', 'MemberList', {}, timeoutMs);
  }

  /** A Watch stream; with `hasleader`, etcd closes it when this member loses its leader. */
  watchStream(): grpc.ClientDuplexStream<unknown, WatchResponse> {
    const stub = this.stub('Watch') as unknown as { Watch(md: grpc.Metadata): grpc.ClientDuplexStream<unknown, WatchResponse> };
    return stub.Watch(this.metadata());
  }

  close(): void {
    for (const s of this.stubs.values()) s.close();
    this.stubs.clear();
  }
}

/** Prefix range end: the key with its last byte incremented. */
export function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix);
  b[b.length - 1]! += 1;
  return b.toString('latin1');
}

// ---------------------------------------------------------------------------------------------
// Outcomes

const NOT_APPLIED = [/No connection established/, /etcdserver: no leader/, /etcdserver: too many requests/, /raft proposal dropped/];

/** 'not-applied' only when the failure proves the request never took effect; otherwise 'unknown'. */
export function classifyFailure(err: unknown): 'not-applied' | 'unknown' {
  const message = err instanceof Error ? err.message : String(err);
  return NOT_APPLIED.some((re) => re.test(message)) ? 'not-applied' : 'unknown';
}

export const now = (): number => performance.now();

export interface RecorderStats {
  ok: number;
  unknown: number;
  notApplied: number;
}

/** Collects operations; `run` records one attempt of one operation. */
export class HistoryRecorder<I, O> {
  readonly ops: Operation<I, O>[] = [];
  readonly stats: RecorderStats = { ok: 0, unknown: 0, notApplied: 0 };

  /**
   * Runs `attempt` once and records it. `readOnly` failures are counted but not recorded (a read
   * whose result is unknown constrains nothing). Returns the output, or undefined on failure.
   */
  async run(clientId: string, input: I, attempt: () => Promise<O>, readOnly = false): Promise<{ output: O } | { failure: 'not-applied' | 'unknown'; error: unknown }> {
    const call = now();
    try {
      const output = await attempt();
      this.ops.push({ clientId, input, output, call, return: now() });
      this.stats.ok++;
      return { output };
    } catch (error) {
      const failure = classifyFailure(error);
      if (failure === 'not-applied') this.stats.notApplied++;
      else {
        this.stats.unknown++;
        if (!readOnly) this.ops.push({ clientId, input, output: UNKNOWN, call, return: Infinity });
      }
      return { failure, error };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The register workload: get / put / compare-and-set on a few keys

/** What one worker's client can do; EtcdKvClient is the real one, tests plug in broken ones. */
export interface KvClient {
  readonly endpoint: string;
  get(key: string, timeoutMs: number): Promise<{ value: string | null; modRevision: string }>;
  put(key: string, value: string, timeoutMs: number): Promise<{ modRevision: string }>;
  /** Txn: if value(key) == expect (null: key absent) then put. */
  casValue(key: string, expect: string | null, value: string, timeoutMs: number): Promise<{ succeeded: boolean; modRevision: string }>;
  /** Txn: if mod_revision(key) == modRevision then put. */
  casRevision(key: string, modRevision: string, value: string, timeoutMs: number): Promise<{ succeeded: boolean; modRevision: string }>;
  close(): void;
}

export class EtcdKvClient implements KvClient {
  private readonly rpc: EtcdRpc;

  constructor(readonly endpoint: string) {
    this.rpc = new EtcdRpc(endpoint);
  }

  async get(key: string, timeoutMs: number): Promise<{ value: string | null; modRevision: string }> {
    const res = await this.rpc.range(key, timeoutMs);
    const kv = res.kvs[0];
    return kv ? { value: kv.value.toString('utf8'), modRevision: kv.mod_revision } : { value: null, modRevision: '0' };
  }

  async put(key: string, value: string, timeoutMs: number): Promise<{ modRevision: string }> {
    const res = await this.rpc.put(key, value, timeoutMs);
    return { modRevision: res.header.revision };
  }

  casValue(key: string, expect: string | null, value: string, timeoutMs: number): Promise<{ succeeded: boolean; modRevision: string }> {
    // A value compare on an absent key is always false in etcd; "absent" is create_revision == 0.
    const compare: Compare = expect === null
      ? { key: Buffer.from(key), result: 'Equal', target: 'Create', create_revision: '0' }
      : { key: Buffer.from(key), result: 'Equal', target: 'Value', value: Buffer.from(expect) };
    return this.swap(key, compare, value, timeoutMs);
  }

  casRevision(key: string, modRevision: string, value: string, timeoutMs: number): Promise<{ succeeded: boolean; modRevision: string }> {
    return this.swap(key, { key: Buffer.from(key), result: 'Equal', target: 'Mod', mod_revision: modRevision }, value, timeoutMs);
  }

  private async swap(key: string, compare: Compare, value: string, timeoutMs: number): Promise<{ succeeded: boolean; modRevision: string }> {
    const res = await this.rpc.txn({
      compare: [compare],
      success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(value) } }],
      failure: [],
    }, timeoutMs);
    return { succeeded: res.succeeded, modRevision: res.header.revision };
  }

  close(): void {
    this.rpc.close();
  }
}

/** A small seeded PRNG (the balancer's mulberry32); every random choice of a run comes from its seed. */
export const prng: (seed: number) => () => number = seededRng;

export interface KvWorkloadOptions {
  endpoints: readonly string[];
  clients: number;
  /** Full keys (put them under a prefix of their own). */
  keys: readonly string[];
  /** Stop issuing new operations when this resolves or `durationMs` passes. */
  durationMs: number;
  seed: number;
  callTimeoutMs?: number;
  /** Relative weights; default get 4, put 2, casValue 2, casRevision 2. */
  mix?: { get: number; put: number; casValue: number; casRevision: number };
  /** Pause between one worker's operations, ms (bounded random in [0, thinkMs]); default 2. */
  thinkMs?: number;
  makeClient?: (endpoint: string, worker: number) => KvClient;
  signal?: AbortSignal;
  /** Called once, just before the workers start (to start the nemesis with the load). */
  onStart?: () => void;
}

export interface KvWorkloadResult {
  ops: Operation<KvInput, KvOutput>[];
  stats: RecorderStats & { byType: Record<string, number> };
}

/**
 * Concurrent workers doing one-attempt get / put / CAS. Every write writes a value never written
 * before, so "mod_revision == r" is the same test as "value == the value written at r": a CAS on
 * a mod revision is recorded as the register CAS on the value this client last saw at r.
 */
export async function runKvWorkload(opts: KvWorkloadOptions): Promise<KvWorkloadResult> {
  const recorder = new HistoryRecorder<KvInput, KvOutput>();
  const byType: Record<string, number> = { get: 0, put: 0, casValue: 0, casRevision: 0 };
  const timeout = opts.callTimeoutMs ?? 1000;
  const mix = opts.mix ?? { get: 4, put: 2, casValue: 2, casRevision: 2 };
  const total = mix.get + mix.put + mix.casValue + mix.casRevision;
  const think = opts.thinkMs ?? 2;
  let end = Infinity;

  const worker = async (w: number): Promise<void> => {
    const rand = prng(opts.seed * 7919 + w);
    const clients = opts.endpoints.map((e) => (opts.makeClient ? opts.makeClient(e, w) : new EtcdKvClient(e)));
    let at = w % clients.length;
    let generation = 0;
    let seq = 0;
    // What this worker last saw per key: a CAS candidate (value, mod revision).
    const seen = new Map<string, { value: string | null; modRevision: string }>();
    try {
      while (now() < end && !opts.signal?.aborted) {
        const client = clients[at]!;
        const key = opts.keys[Math.floor(rand() * opts.keys.length)]!;
        const clientId = `w${w}${generation > 0 ? `.${generation}` : ''}`;
        const fresh = `w${w}-${++seq}`;
        let pick = rand() * total;
        const type = (pick -= mix.get) < 0 ? 'get' : (pick -= mix.put) < 0 ? 'put' : (pick -= mix.casValue) < 0 ? 'casValue' : 'casRevision';
        byType[type]!++;
        let result;
        if (type === 'get') {
          result = await recorder.run(clientId, { key, type: 'get' }, async () => {
            const r = await client.get(key, timeout);
            seen.set(key, r);
            return r.value;
          }, true);
        } else if (type === 'put') {
          result = await recorder.run(clientId, { key, type: 'put', value: fresh }, async () => {
            const r = await client.put(key, fresh, timeout);
            seen.set(key, { value: fresh, modRevision: r.modRevision });
            return null;
          });
        } else {
          const last = seen.get(key) ?? { value: null, modRevision: '0' };
          // By value: sometimes a value this worker saw, sometimes one it wrote itself earlier.
          const expect = type === 'casValue' && rand() < 0.2 && seq > 1 ? `w${w}-${seq - 1}` : last.value;
          result = await recorder.run(clientId, { key, type: 'cas', expect, value: fresh }, async () => {
            const r = type === 'casValue'
              ? await client.casValue(key, expect, fresh, timeout)
              : await client.casRevision(key, last.modRevision, fresh, timeout);
            if (r.succeeded) seen.set(key, { value: fresh, modRevision: r.modRevision });
            return r.succeeded;
          });
        }
        if ('failure' in result) {
          // A new process name after an unknown outcome (the old one may still be in flight), and
          // another member for the next operation: the client's choice, not a retry.
          if (result.failure === 'unknown') generation++;
          at = (at + 1) % clients.length;
        }
        if (think > 0) await new Promise((r) => setTimeout(r, rand() * think));
      }
    } finally {
      for (const c of clients) c.close();
    }
  };
  opts.onStart?.();
  end = now() + opts.durationMs;
  await Promise.all(Array.from({ length: opts.clients }, (_, w) => worker(w)));
  return { ops: recorder.ops, stats: { ...recorder.stats, byType } };
}

// ---------------------------------------------------------------------------------------------
// Checking and reporting

export interface CheckedHistory<I, O> {
  result: CheckResult<I, O>;
  ms: number;
}

export function checkKv(ops: Operation<KvInput, KvOutput>[], boundMs = 60_000): CheckedHistory<KvInput, KvOutput> {
  return checkWith(kvModel(null), ops, boundMs);
}

export function checkWith<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[], boundMs = 60_000): CheckedHistory<I, O> {
  const start = now();
  const result = check(model, ops, { deadline: { now, at: start + boundMs } });
  return { result, ms: Math.round(now() - start) };
}

/** Everything a human needs to reproduce and read a violation. */
export function violationReport(args: { title: string; seed: number; nemesisLog: string; result: CheckResult<unknown, unknown> | CheckResult<KvInput, KvOutput> }): string {
  const { result } = args;
  const lines = [
    `${args.title}: outcome ${result.outcome}`,
    `seed: ${args.seed}  (rerun with SHOAL_JEPSEN_SEED=${args.seed})`,
    'nemesis log:',
    args.nemesisLog || '  (no faults)',
  ];
  if (result.failure) {
    lines.push(`minimal failing history (key ${JSON.stringify(result.failure.key)}, ${result.failure.minimal.length} of ${result.failure.history.length} ops):`);
    lines.push(result.failure.text);
  } else {
    const stuck = result.partitions.filter((p) => p.outcome !== 'ok');
    lines.push(`partitions not proven linearizable: ${stuck.map((p) => `${p.key} (${p.ops} ops, ${p.steps} steps, ${p.outcome})`).join(', ') || 'none'}`);
  }
  return lines.join('\n');
}
