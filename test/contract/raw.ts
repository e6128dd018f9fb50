// Raw gRPC access to the etcd v3 API, for what the etcd3 client hides: the status code and
// details of an error (etcd3 rewrites some messages), and the watch stream's own responses
// (created, canceled, compact_revision, watch ids). Uses etcd3's copy of etcd's rpc.proto.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { IWatchCreateRequest, IWatchResponse } from 'etcd3';
import { Inbox } from './harness.js';

const require = createRequire(import.meta.url);
const ETCD3_PROTO_DIR = path.join(path.dirname(require.resolve('etcd3')), '..', 'proto');
const HERE = path.dirname(fileURLToPath(import.meta.url));
const definition = loadSync(['rpc.proto', 'lock.proto', 'election.proto'], {
  keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
  includeDirs: [ETCD3_PROTO_DIR, HERE],
});
type Package = Record<string, grpc.ServiceClientConstructor>;
const packages = grpc.loadPackageDefinition(definition) as unknown as Record<string, Package>;

/** 'KV', 'Lease', ... are etcdserverpb services; 'v3lockpb.Lock' and 'v3electionpb.Election' name the others. */
function serviceConstructor(name: string): grpc.ServiceClientConstructor | undefined {
  const [pkg, svc] = name.includes('.') ? name.split('.') : ['etcdserverpb', name];
  return packages[pkg!]?.[svc!];
}

export interface RpcFailure {
  code: number;
  codeName: string;
  details: string;
}

type Unary = (req: unknown, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

export class RawClient {
  private readonly clients = new Map<string, grpc.Client>();

  /** `authority` overrides the HTTP/2 :authority header (etcd's Go client 3.4 sends the whole URL for per-endpoint calls). */
  constructor(private readonly endpoint: string, private readonly authority?: string) {}

  private service(name: string): grpc.Client {
    let client = this.clients.get(name);
    if (!client) {
      const Ctor = serviceConstructor(name);
      if (!Ctor) throw new Error(`no service ${name} in the loaded protos`);
      const options: grpc.ChannelOptions = this.authority ? { 'grpc.default_authority': this.authority } : {};
      client = new Ctor(this.endpoint.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure(), options);
      this.clients.set(name, client);
    }
    return client;
  }

  /** A unary call; resolves with the response, rejects with the grpc ServiceError. */
  call<T = Record<string, unknown>>(service: string, method: string, req: unknown): Promise<T> {
    const client = this.service(service) as unknown as Record<string, Unary>;
    const fn = client[method];
    if (typeof fn !== 'function') throw new Error(`no method ${service}.${method}`);
    return new Promise((resolve, reject) => {
      fn.call(client, req, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  /** The status a call failed with; throws if it succeeded. */
  async failure(service: string, method: string, req: unknown): Promise<RpcFailure> {
    try {
      const res = await this.call(service, method, req);
      throw new Error(`${service}.${method} succeeded but a failure was expected: ${JSON.stringify(res)}`);
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, codeName: grpc.status[e.code] ?? String(e.code), details: e.details };
    }
  }

  /** A server-streaming call; every response lands in the returned inbox. */
  serverStream<T>(service: string, method: string, req: unknown): { responses: Inbox<T>; cancel(): void } {
    const client = this.service(service) as unknown as Record<string, (req: unknown) => grpc.ClientReadableStream<T>>;
    const call = client[method]!.call(client, req);
    const responses = new Inbox<T>();
    call.on('data', (res: T) => responses.push(res));
    call.on('error', () => undefined); // cancellation ends the stream with CANCELLED
    return { responses, cancel: () => call.cancel() };
  }

  watchStream(): WatchStream {
    const client = this.service('Watch') as unknown as { Watch(): grpc.ClientDuplexStream<unknown, IWatchResponse> };
    return new WatchStream(client.Watch());
  }

  keepAliveStream(): grpc.ClientDuplexStream<{ ID: string | number }, { ID: string; TTL: string; header: { revision: string } }> {
    const client = this.service('Lease') as unknown as { LeaseKeepAlive(): grpc.ClientDuplexStream<{ ID: string | number }, { ID: string; TTL: string; header: { revision: string } }> };
    return client.LeaseKeepAlive();
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** One Watch RPC: every response it receives, in order. */
export class WatchStream {
  readonly responses = new Inbox<IWatchResponse>();
  private ended = false;

  constructor(private readonly stream: grpc.ClientDuplexStream<unknown, IWatchResponse>) {
    stream.on('data', (res: IWatchResponse) => this.responses.push(res));
    stream.on('error', () => { this.ended = true; });
    stream.on('end', () => { this.ended = true; });
  }

  /** Sends a create request and resolves with its `created` response. */
  async create(req: IWatchCreateRequest & { watch_id?: number }): Promise<IWatchResponse> {
    const before = this.responses.size;
    this.stream.write({ create_request: req });
    const all = await this.responses.until((rs) => rs.slice(before).some((r) => r.created), 5000, 'watch created response');
    return all.slice(before).find((r) => r.created)!;
  }

  cancel(watchId: string): void {
    this.stream.write({ cancel_request: { watch_id: watchId } });
  }

  progress(): void {
    this.stream.write({ progress_request: {} });
  }

  /** Responses for one watch id that carry events, flattened to the events. */
  events(watchId: string): IWatchResponse['events'] {
    return this.responses.all().filter((r) => r.watch_id === watchId).flatMap((r) => r.events);
  }

  /** Waits until watch `watchId` has delivered at least `n` events. */
  async waitEvents(watchId: string, n: number, ms = 5000): Promise<IWatchResponse['events']> {
    await this.responses.until(() => this.events(watchId).length >= n, ms, `${n} events on watch ${watchId}`);
    return this.events(watchId);
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.stream.cancel();
  }
}
