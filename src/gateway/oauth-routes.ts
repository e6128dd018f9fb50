// The authorization server's HTTP face: /api/v1/auth/login (house error shape) and the OAuth 2
// endpoints (RFC 6749 token, RFC 7662 introspection, RFC 7009 revocation, RFC 8414 metadata, the
// JWKS). Errors on /oauth2/* use RFC 6749 bodies ({ error, error_description }).
import { z } from 'zod';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isShoalError } from '../errors/index.js';
import { oauthError } from './errors.js';
import type { RouteContext, RouteHost } from './route-table.js';
import type { TokenPair, TokenService } from './tokens.js';

const MAX_PASSWORD = 1024;

const LoginBody = z.object({ email: z.string().min(1).max(254), password: z.string().min(1).max(MAX_PASSWORD) });

const TokenBody = z.object({
  grant_type: z.string().min(1).max(64).describe('password or refresh_token'),
  username: z.string().max(254).optional().describe('password grant: the email'),
  password: z.string().max(MAX_PASSWORD).optional(),
  refresh_token: z.string().max(512).optional(),
  scope: z.string().max(1024).optional(),
  client_id: z.string().max(255).optional(),
});

const TokenResult = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
  refresh_token: z.string(),
});

const TokenOnly = z.object({ token: z.string().max(8192), token_type_hint: z.string().max(64).optional() });

const OAuthErrorResult = z.object({ error: z.string(), error_description: z.string().optional() });

const FORM_AND_JSON = ['application/x-www-form-urlencoded', 'application/json'];

interface AuthenticatedUser {
  id: string;
  email: string;
  role: string;
}

export function registerOAuthRoutes(app: FastifyInstance, prefix: string, tokens: TokenService, host: RouteHost): void {
  const noStore = (reply: FastifyReply): void => {
    // RFC 6749 section 5.1: token responses must not be cached.
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  };

  async function authenticate(ctx: RouteContext, email: string, password: string): Promise<AuthenticatedUser> {
    return ctx.call<AuthenticatedUser>('users.authenticate', { email, password });
  }

  app.post(`${prefix}/auth/login`, {
    config: { auth: 'public', credentials: true },
    schema: {
      summary: 'Sign in with email and password',
      tags: ['auth'],
      body: LoginBody,
      response: { 200: TokenResult },
    },
    handler: async (request, reply) => {
      const { email, password } = request.body as z.output<typeof LoginBody>;
      const user = await authenticate(host.context(request), email, password);
      noStore(reply);
      return tokens.issuePair(user);
    },
  });

  app.post('/oauth2/token', {
    config: { auth: 'public', oauth: true, credentials: true },
    schema: {
      summary: 'OAuth 2 token endpoint (grant_type password or refresh_token; form-encoded or JSON)',
      tags: ['oauth2'],
      consumes: FORM_AND_JSON,
      body: TokenBody,
      response: { 200: TokenResult, '4XX': OAuthErrorResult },
    },
    handler: async (request, reply) => {
      const body = request.body as z.output<typeof TokenBody>;
      const ctx = host.context(request);
      let pair: TokenPair;
      if (body.grant_type === 'password') {
        if (body.username === undefined || body.password === undefined || body.username === '' || body.password === '') {
          throw oauthError(400, 'invalid_request', 'the password grant needs username and password');
        }
        const user = await asGrant(authenticate(ctx, body.username, body.password));
        pair = await tokens.issuePair(user);
      } else if (body.grant_type === 'refresh_token') {
        if (body.refresh_token === undefined || body.refresh_token === '') throw oauthError(400, 'invalid_request', 'the refresh_token grant needs refresh_token');
        pair = await tokens.refresh(body.refresh_token, async (sub) => {
          const user = await asGrant(ctx.call<{ role: string }>('users.get', { id: sub }, { idempotent: true, meta: { auth: { sub, role: 'user' } } }));
          return user.role;
        });
      } else {
        throw oauthError(400, 'unsupported_grant_type', 'supported grant types: password, refresh_token');
      }
      noStore(reply);
      return pair;
    },
  });

  app.post('/oauth2/introspect', {
    config: { auth: 'user', oauth: true },
    schema: {
      summary: 'RFC 7662 introspection (bearer token required; non-admins see only their own tokens)',
      tags: ['oauth2'],
      security: [{ bearerAuth: [] }],
      consumes: FORM_AND_JSON,
      body: TokenOnly,
    },
    handler: async (request, reply) => {
      const { token } = request.body as z.output<typeof TokenOnly>;
      const caller = request.identity!;
      const answer = await tokens.introspector.introspect(token);
      noStore(reply);
      // Someone else's token is reported inactive: introspection must not become a token oracle.
      if (answer.active && answer.sub !== caller.sub && caller.role !== 'admin') return { active: false };
      return answer;
    },
  });

  app.post('/oauth2/revoke', {
    config: { auth: 'public', oauth: true },
    schema: {
      summary: 'RFC 7009 revocation (access or refresh token; 200 whether or not it was known)',
      tags: ['oauth2'],
      consumes: FORM_AND_JSON,
      body: TokenOnly,
    },
    handler: async (request) => {
      const { token } = request.body as z.output<typeof TokenOnly>;
      await tokens.introspector.revoke(token);
      return {};
    },
  });

  const authorize = async (): Promise<never> => {
    throw oauthError(400, 'unsupported_response_type', 'the authorization endpoint is not supported yet; use grant_type=password or refresh_token at /oauth2/token');
  };
  for (const method of ['GET', 'POST'] as const) {
    app.route({
      method,
      url: '/oauth2/authorize',
      config: { auth: 'public', oauth: true },
      schema: { summary: 'Not supported yet (authorization code flow)', tags: ['oauth2'], response: { '4XX': OAuthErrorResult } },
      handler: authorize,
    });
  }

  app.get('/.well-known/oauth-authorization-server', {
    config: { auth: 'public' },
    schema: { summary: 'RFC 8414 authorization server metadata', tags: ['oauth2'] },
    handler: async () => {
      const base = tokens.issuer.replace(/\/+$/, '');
      return {
        issuer: tokens.issuer,
        token_endpoint: `${base}/oauth2/token`,
        jwks_uri: `${base}/.well-known/jwks.json`,
        introspection_endpoint: `${base}/oauth2/introspect`,
        revocation_endpoint: `${base}/oauth2/revoke`,
        grant_types_supported: ['password', 'refresh_token'],
        response_types_supported: [],
        token_endpoint_auth_methods_supported: ['none'],
        introspection_endpoint_auth_methods_supported: ['bearer'],
        revocation_endpoint_auth_methods_supported: ['none'],
        scopes_supported: [],
      };
    },
  });

  app.get('/.well-known/jwks.json', {
    config: { auth: 'public' },
    schema: { summary: 'Public signing keys (JWK Set)', tags: ['oauth2'] },
    handler: async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return tokens.keyRing.jwks();
    },
  });
}

/** At the token endpoint a credentials or subject failure is invalid_grant (RFC 6749 section 5.2). */
async function asGrant<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (err) {
    if (isShoalError(err) && (err.code === 'INVALID_CREDENTIALS' || err.code === 'NOT_FOUND')) {
      throw oauthError(400, 'invalid_grant', err.code === 'NOT_FOUND' ? 'the grant no longer has a user' : 'invalid username or password');
    }
    if (isShoalError(err) && err.code === 'INVALID_ARGUMENT') throw oauthError(400, 'invalid_request', 'malformed credentials');
    throw err;
  }
}

