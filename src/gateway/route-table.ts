// A route table entry: method, path, who may call it, zod schemas for its inputs and result, and
// a handler that maps the request onto service actions. The generic edge (auth, limits, errors,
// validation, OpenAPI) is applied by registerRoutes; a table (shop-routes.ts, later orders) only
// says what each route means.
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ShoalError } from '../errors/index.js';
import { parseWithFastPath, type CallOptions } from '../runtime/index.js';

export type AuthRequirement = 'public' | 'user' | 'admin';

/** The caller of a request, from a verified access token. */
export interface Identity {
  /** User id (the token's `sub`). */
  sub: string;
  /** 'admin' when the token carries the admin role, else its first role, else 'user'. */
  role: string;
  roles: string[];
  jti: string;
  /** NumericDate (seconds). */
  exp: number;
}

export interface RouteContext {
  readonly auth: Identity | null;
  readonly headers: IncomingHttpHeaders;
  /** Calls an action for this request: identity (`meta.auth`) and traceparent ride along, the gateway's timeout applies. */
  call<T = unknown>(action: string, params: unknown, options?: CallOptions): Promise<T>;
}

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface RouteInput<B, Q, P> {
  body: B;
  query: Q;
  params: P;
}

export interface RouteSpec<B extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, P extends z.ZodType = z.ZodType> {
  method: HttpMethod;
  /** Path under the version prefix, e.g. `/goods/:id`. */
  url: string;
  auth: AuthRequirement;
  summary: string;
  tags: string[];
  body?: B;
  query?: Q;
  params?: P;
  /** Documented (and checked, not replaced) request headers. */
  headers?: z.ZodType;
  /** Success status; default 200. */
  status?: number;
  /** Shapes the answer: unknown fields are stripped, so a service can never leak one (a password hash). */
  result: z.ZodType;
  handler(input: RouteInput<z.output<B>, z.output<Q>, z.output<P>>, ctx: RouteContext): Promise<unknown>;
}

/** Identity function that keeps the handler's input types tied to the schemas. */
export function defineRoute<B extends z.ZodType = z.ZodUnknown, Q extends z.ZodType = z.ZodUnknown, P extends z.ZodType = z.ZodUnknown>(
  spec: RouteSpec<B, Q, P>,
): RouteSpec {
  return spec as unknown as RouteSpec;
}

export interface RouteHost {
  /** A RouteContext for one request. */
  context(request: FastifyRequest): RouteContext;
}

const ERROR_RESPONSE = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});

export function registerRoutes(app: FastifyInstance, prefix: string, routes: readonly RouteSpec[], host: RouteHost): void {
  for (const spec of routes) {
    const status = spec.status ?? 200;
    const response: Record<string, z.ZodType> = { [status]: spec.result, '4XX': ERROR_RESPONSE, '5XX': ERROR_RESPONSE };
    app.route({
      method: spec.method,
      url: prefix + spec.url,
      config: { auth: spec.auth },
      schema: {
        summary: spec.summary,
        tags: spec.tags,
        ...(spec.auth !== 'public' ? { security: [{ bearerAuth: [] }] } : {}),
        ...(spec.body !== undefined ? { body: spec.body } : {}),
        ...(spec.query !== undefined ? { querystring: spec.query } : {}),
        ...(spec.params !== undefined ? { params: spec.params } : {}),
        ...(spec.headers !== undefined ? { headers: spec.headers } : {}),
        response,
      },
      handler: async (request, reply) => {
        const input = { body: request.body, query: request.query, params: request.params } as RouteInput<unknown, unknown, unknown>;
        const out = await spec.handler(input, host.context(request));
        const shaped = parseWithFastPath(spec.result, out);
        if (!shaped.success) {
          // The service answered with something the API does not promise: our fault, not the client's.
          request.log.error({ route: spec.url, issues: shaped.error.issues.slice(0, 5) }, 'service result does not match the route result schema');
          throw new ShoalError({ code: 'INTERNAL', message: 'result schema mismatch', retryable: false });
        }
        reply.code(status);
        return shaped.data;
      },
    });
  }
}
