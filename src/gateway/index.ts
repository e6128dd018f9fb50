// Public surface of the gateway: the HTTP edge of the shop over a Caller.
export {
  API_PREFIX,
  DEFAULT_BODY_LIMIT,
  KEY_FILE,
  REFRESH_DB_FILE,
  createGateway,
  type GatewayHandle,
  type GatewayOptions,
  type RequestLogMode,
} from './gateway.js';
export { defineRoute, type AuthRequirement, type Identity, type RouteContext, type RouteSpec } from './route-table.js';
export { shopRoutes, MAX_CENTS } from './shop-routes.js';
export { DEFAULT_ERROR_STATUSES, HttpError, mapError, type ErrorBody } from './errors.js';
export { FixedWindowLimiter, type RateLimitOptions } from './rate-limit.js';
export { VerifiedTokenCache, type VerifiedTokenCacheOptions } from './auth-hook.js';
export type { TokenPair, TokenService } from './tokens.js';
export { SqliteRefreshTokenStore } from './sqlite-refresh-store.js';
export { brokerCaller } from './broker-caller.js';
export {
  DEFAULT_ADMIN_EMAIL,
  DEFAULT_ADMIN_PASSWORD,
  DEFAULT_GATEWAY_PORT,
  ensureAdmin,
  readGatewayEnv,
  runGatewayFromEnv,
  startGatewayFromEnv,
  type GatewayEnv,
  type RunningGateway,
} from './run.js';
