// One instance's listeners: the fast TCP path and the HTTP/JSON path, both over the same handler.
import type { DrainReport, ListeningServer } from './types.js';
import { HttpServer, type HttpServerOptions } from './http/server.js';
import { TcpServer, type TcpServerOptions } from './tcp/server.js';

export interface TransportServerOptions extends Pick<TcpServerOptions, 'instanceId' | 'handler' | 'onEvent' | 'onError'> {
  /** Defaults to 127.0.0.1. */
  host?: string;
  /** `false` to not serve TCP; port 0 (default) picks a free one. */
  tcp?: false | { port?: number; maxFrameBytes?: number; maxInFlightPerConnection?: number };
  /** `false` to not serve HTTP. */
  http?: false | { port?: number; maxBodyBytes?: number };
}

export interface TransportServer {
  /** URLs to register in discovery, fastest first (`shoal+tcp://…`, then `http://…`). */
  readonly urls: readonly string[];
  readonly tcpUrl: string | undefined;
  readonly httpUrl: string | undefined;
  /** Both listeners drain at once; the report adds them up. */
  drain(options?: { timeoutMs?: number }): Promise<DrainReport>;
  close(): Promise<void>;
}

export async function createTransportServer(options: TransportServerOptions): Promise<TransportServer> {
  if (options.tcp === false && options.http === false) throw new TypeError('createTransportServer: tcp and http both disabled');
  const host = options.host ?? '127.0.0.1';
  const common = { instanceId: options.instanceId, handler: options.handler, onEvent: options.onEvent, onError: options.onError, host };
  const listeners: ListeningServer[] = [];
  let tcpUrl: string | undefined;
  let httpUrl: string | undefined;
  try {
    if (options.tcp !== false) {
      const tcp = await TcpServer.listen({ ...common, ...options.tcp });
      listeners.push(tcp);
      tcpUrl = tcp.url;
    }
    if (options.http !== false) {
      const http = await HttpServer.listen({ ...common, ...(options.http as Partial<HttpServerOptions> | undefined) });
      listeners.push(http);
      httpUrl = http.url;
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    throw err;
  }
  return {
    urls: listeners.map((l) => l.url),
    tcpUrl,
    httpUrl,
    async drain(drainOptions) {
      const reports = await Promise.all(listeners.map((l) => l.drain(drainOptions)));
      return reports.reduce((a, r) => ({ answered: a.answered + r.answered, refused: a.refused + r.refused, abandoned: a.abandoned + r.abandoned }), {
        answered: 0,
        refused: 0,
        abandoned: 0,
      });
    },
    async close() {
      await Promise.all(listeners.map((l) => l.close()));
    },
  };
}
