// Request validation from zod schemas: one schema both validates (fastify's validatorCompiler
// runs zod) and documents (the swagger transform turns it into JSON Schema with z.toJSONSchema).
// A failure is INVALID_ARGUMENT with zod's issues — which never echo the input — in details.
import { z } from 'zod';
import type { FastifySchemaCompiler } from 'fastify';
import { fastParse } from '../runtime/index.js';
import { HttpError } from './errors.js';

type HttpPart = 'body' | 'querystring' | 'params' | 'headers';

export function isZodSchema(value: unknown): value is z.ZodType {
  return value instanceof z.ZodType;
}

const MAX_ISSUES = 20;

/** Issues in a compact, input-free form for error details. */
export function issuesOf(error: z.ZodError): Array<{ path: string; code: string; message: string }> {
  return error.issues.slice(0, MAX_ISSUES).map((issue) => ({ path: issue.path.map(String).join('.'), code: issue.code, message: issue.message }));
}

export function invalidArgument(part: string, error: z.ZodError): HttpError {
  return new HttpError(400, 'INVALID_ARGUMENT', `invalid ${part}`, { details: { in: part, issues: issuesOf(error) } });
}

/**
 * Zod schemas validate (and coerce) their part; headers are only checked, never replaced, so the
 * request keeps every header. Non-zod schemas (plugins' own routes) are not validated here.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (!isZodSchema(schema)) return () => true;
  const part = (httpPart ?? 'body') as HttpPart;
  const where = part === 'querystring' ? 'query' : part;
  return (data: unknown) => {
    // Plain schemas (an id, a page size) are checked by the compiled fast path; zod parses
    // whatever it does not accept, so errors are always zod's own.
    const fast = fastParse(schema, data);
    if (fast !== undefined) return part === 'headers' ? true : { value: fast.data };
    const result = schema.safeParse(data);
    if (!result.success) return { error: invalidArgument(where, result.error) };
    return part === 'headers' ? true : { value: result.data };
  };
};

/** Responses are built by our own handlers (already shaped by their result schema): plain JSON. */
export function jsonSerializerCompiler(): (data: unknown) => string {
  return (data) => JSON.stringify(data);
}

/** @fastify/swagger `transform`: zod schemas in a route's schema become OpenAPI 3.0 JSON Schema. */
export function openApiTransform({ schema, url }: { schema: Record<string, unknown> | undefined; url: string }): { schema: Record<string, unknown>; url: string } {
  if (schema === undefined) return { schema: {}, url };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'response' && typeof value === 'object' && value !== null) {
      const responses: Record<string, unknown> = {};
      for (const [status, response] of Object.entries(value)) responses[status] = toJsonSchema(response, 'output');
      out.response = responses;
    } else {
      out[key] = toJsonSchema(value, 'input');
    }
  }
  return { schema: out, url };
}

function toJsonSchema(value: unknown, io: 'input' | 'output'): unknown {
  if (!isZodSchema(value)) return value;
  const json = z.toJSONSchema(value, { target: 'openapi-3.0', io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}
