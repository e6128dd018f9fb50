// Per-request observability: a server span continuing the client's W3C trace (its traceparent is
// what services receive in call meta), and shoal_http_requests_total by route template — never
// by raw URL, so random paths cannot blow up label cardinality.
import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isValidTraceparent, type Observability, type SpanHandle } from '../observe/index.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

declare module 'fastify' {
  interface FastifyRequest {
    /** W3C traceparent to forward downstream (the server span's, or a valid incoming one). */
    traceparent: string | undefined;
  }
}

/** An incoming traceparent header, if well-formed (W3C Trace Context section 3.2). */
export function validTraceparent(value: unknown): string | undefined {
  return typeof value === 'string' && isValidTraceparent(value) ? value : undefined;
}

export function routeLabel(request: FastifyRequest): string {
  return request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched');
}

export function installTelemetry(app: FastifyInstance, obs: Observability | undefined): void {
  const started = new WeakMap<FastifyRequest, { at: number; span: SpanHandle | undefined }>();
  app.decorateRequest('traceparent', undefined);

  app.addHook('onRequest', async (request) => {
    const incoming = validTraceparent(request.headers.traceparent);
    let span: SpanHandle | undefined;
    if (obs !== undefined) {
      span = obs.tracer.startSpan(`${request.method} ${routeLabel(request)}`, {
        kind: 'server',
        ...(incoming !== undefined ? { parent: incoming } : {}),
        attributes: { 'http.request.method': request.method, 'http.route': routeLabel(request) },
      });
    }
    request.traceparent = span?.traceparent() ?? incoming;
    started.set(request, { at: performance.now(), span });
  });

  app.addHook('onResponse', async (request, reply) => {
    const start = started.get(request);
    if (start === undefined) return;
    started.delete(request);
    const status = reply.statusCode;
    if (obs !== undefined) {
      const method = METHODS.has(request.method) ? request.method : 'OTHER';
      obs.metrics.recordHttp(routeLabel(request), method, status, performance.now() - start.at);
    }
    if (start.span !== undefined) {
      start.span.setAttribute('http.response.status_code', status);
      if (status >= 500) start.span.fail(new Error(`HTTP ${status}`));
      start.span.end();
    }
  });
}
