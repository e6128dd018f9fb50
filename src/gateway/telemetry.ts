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

/** Per-request state, kept on the request (no WeakMap lookups). */
interface RequestTiming {
  at: number;
  span: SpanHandle | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    shoalTiming: RequestTiming | undefined;
  }
}

/**
 * Spans and metrics per request; with `slowLog`, one log line for a 5xx answer or a request
 * slower than slowRequestMs (fastify's own per-request lines are off then). The hooks take
 * `done` rather than being async: no promise per hook per request.
 */
export function installTelemetry(app: FastifyInstance, obs: Observability | undefined, slowLog?: { slowRequestMs: number }): void {
  app.decorateRequest('traceparent', undefined);
  app.decorateRequest('shoalTiming', undefined);

  app.addHook('onRequest', (request, _reply, done) => {
    const incoming = validTraceparent(request.headers.traceparent);
    let span: SpanHandle | undefined;
    if (obs !== undefined) {
      const route = routeLabel(request);
      const attributes = { 'http.request.method': request.method, 'http.route': route };
      span = obs.tracer.startSpan(`${request.method} ${route}`, incoming !== undefined ? { kind: 'server', parent: incoming, attributes } : { kind: 'server', attributes });
    }
    request.traceparent = span?.traceparent() ?? incoming;
    request.shoalTiming = { at: performance.now(), span };
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const start = request.shoalTiming;
    if (start === undefined) {
      done();
      return;
    }
    request.shoalTiming = undefined;
    const status = reply.statusCode;
    const elapsedMs = performance.now() - start.at;
    if (obs !== undefined) {
      const method = METHODS.has(request.method) ? request.method : 'OTHER';
      obs.metrics.recordHttp(routeLabel(request), method, status, elapsedMs);
    }
    if (start.span !== undefined) {
      start.span.setAttribute('http.response.status_code', status);
      if (status >= 500) start.span.fail(new Error(`HTTP ${status}`));
      start.span.end();
    }
    if (slowLog !== undefined && (status >= 500 || elapsedMs >= slowLog.slowRequestMs)) {
      request.log.warn({ method: request.method, route: routeLabel(request), statusCode: status, responseTimeMs: Math.round(elapsedMs * 10) / 10 }, status >= 500 ? 'request failed' : 'slow request');
    }
    done();
  });
}
