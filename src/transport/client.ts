// The client the runtime holds: one TransportClient that routes each call by the endpoint URL's
// scheme, so discovery can hand out `shoal+tcp://` and `http://` URLs alike.
import { HttpClient, type HttpClientOptions } from './http/client.js';
import { TcpClient, type TcpClientOptions } from './tcp/client.js';
import type { CallMeta, CallOptions, TransportClient } from './types.js';

export interface TransportClientOptions {
  tcp?: TcpClientOptions;
  http?: HttpClientOptions;
}

export class SchemeRoutingClient implements TransportClient {
  readonly tcp: TcpClient;
  readonly http: HttpClient;

  constructor(options: TransportClientOptions = {}) {
    this.tcp = new TcpClient(options.tcp);
    this.http = new HttpClient(options.http);
  }

  call<T = unknown>(endpointUrl: string, action: string, params: unknown, meta?: CallMeta, options?: CallOptions): Promise<T> {
    return this.pick(endpointUrl).call<T>(endpointUrl, action, params, meta, options);
  }

  emit(endpointUrl: string, event: string, payload: unknown, meta?: CallMeta): Promise<void> {
    return this.pick(endpointUrl).emit(endpointUrl, event, payload, meta);
  }

  async close(): Promise<void> {
    await Promise.all([this.tcp.close(), this.http.close()]);
  }

  private pick(endpointUrl: string): TransportClient {
    if (endpointUrl.startsWith('shoal+tcp://')) return this.tcp;
    if (endpointUrl.startsWith('http://') || endpointUrl.startsWith('https://')) return this.http;
    throw new TypeError(`no transport for endpoint URL "${endpointUrl}" (shoal+tcp://, http://, https://)`);
  }
}

export function createTransportClient(options?: TransportClientOptions): TransportClient & { readonly tcp: TcpClient; readonly http: HttpClient } {
  return new SchemeRoutingClient(options);
}
