// The admin endpoints every instance answers: /livez, /readyz, /metrics, /spans. One handler that
// can be mounted on any node:http server (the runtime's HTTP transport port, the gateway's fastify
// through reply.raw) and a small standalone server for processes that have no HTTP port of their own.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Observability } from './types.js';
import { isValidTraceId } from './traceparent.js';

/** Handles a request if it is one of ours and answers true; answers false and touches nothing otherwise. */
export type AdminHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export const ADMIN_PATHS = ['/livez', '/readyz', '/metrics', '/spans'] as const;
const DEFAULT_SPAN_LIMIT = 100;
const MAX_SPAN_LIMIT = 10_000;

/**
 * GET (and HEAD) on the admin paths only; any other method or path is left to the host server, so
 * mounting this in front of a transport that serves `POST /<action>` takes nothing from it.
 */
export function adminRequestHandler(obs: Observability): AdminHandler {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = parseUrl(req.url);
    if (url === undefined) return false;
    switch (url.pathname) {
      case '/livez':
        sendJson(res, 200, { status: 'ok' });
        return true;
      case '/readyz':
        void answer(obs, res, async () => {
          const { ok, checks } = await obs.health.ready();
          sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', checks });
        });
        return true;
      case '/metrics':
        void answer(obs, res, async () => {
          const text = await obs.metrics.render();
          send(res, 200, obs.metrics.contentType, text);
        });
        return true;
      case '/spans':
        answerSpans(obs, url.searchParams, res);
        return true;
      default:
        return false;
    }
  };
}

function answerSpans(obs: Observability, query: URLSearchParams, res: ServerResponse): void {
  const limitText = query.get('limit');
  const limit = limitText === null ? DEFAULT_SPAN_LIMIT : /^\d{1,6}$/.test(limitText) ? Number(limitText) : NaN;
  if (!(limit >= 1 && limit <= MAX_SPAN_LIMIT)) {
    sendError(res, 400, 'INVALID_ARGUMENT', `limit must be an integer from 1 to ${MAX_SPAN_LIMIT}`);
    return;
  }
  const traceId = query.get('traceId');
  if (traceId !== null && !isValidTraceId(traceId)) {
    sendError(res, 400, 'INVALID_ARGUMENT', 'traceId must be 32 lowercase hex digits, not all zero');
    return;
  }
  const spans = traceId === null ? obs.tracer.recentSpans(limit) : obs.tracer.recentSpans().filter((s) => s.traceId === traceId).slice(-limit);
  sendJson(res, 200, { spans });
}

async function answer(obs: Observability, res: ServerResponse, respond: () => Promise<void>): Promise<void> {
  try {
    await respond();
  } catch (err) {
    obs.logger.error({ err }, 'admin endpoint failed');
    if (!res.headersSent) sendError(res, 500, 'INTERNAL', 'admin endpoint failed');
    else res.destroy();
  }
}

function parseUrl(raw: string | undefined): URL | undefined {
  try {
    return new URL(raw ?? '/', 'http://admin.invalid');
  } catch {
    return undefined;
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

export interface AdminServerOptions {
  /** Default 127.0.0.1: admin data (spans, metrics) is not for the open network unless asked. */
  host?: string;
  /** Default 0 (a free port; read it from `url`). */
  port?: number;
  /** Tried after the admin paths, before the 404 (e.g. the dashboard's pages). */
  extra?: AdminHandler;
}

export interface AdminServer {
  /** `http://host:port`, with the bound port. */
  readonly url: string;
  /** Stops listening and closes open (keep-alive) connections. */
  close(): Promise<void>;
}

export async function serveAdmin(obs: Observability, options: AdminServerOptions = {}): Promise<AdminServer> {
  const handle = adminRequestHandler(obs);
  const extra = options.extra;
  const server = createServer((req, res) => {
    if (handle(req, res)) return;
    if (extra?.(req, res)) return;
    sendError(res, 404, 'NOT_FOUND', `no admin endpoint ${req.method ?? ''} ${parseUrl(req.url)?.pathname ?? ''}`.trim());
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
