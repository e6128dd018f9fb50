// Public surface of the auth core: password hashing, signing keys and JWKS, access tokens
// (issue and verify), refresh tokens with rotation and reuse detection, introspection and
// revocation. The HTTP endpoints live in gateway/; this folder has no server.
export { AuthError, AuthErrorCode, isAuthError } from './errors.js';
export { systemClock, epochSeconds, type Clock } from './clock.js';
export {
  DEFAULT_SCRYPT_PARAMS,
  MAX_PASSWORD_BYTES,
  hashPassword,
  needsRehash,
  parsePasswordHash,
  verifyPassword,
  type HashOptions,
  type ParsedPasswordHash,
  type ScryptParams,
} from './password.js';
export {
  SIGNING_ALGORITHMS,
  generateSigningKey,
  isSigningAlgorithm,
  jwkThumbprint,
  type PublicJwk,
  type SigningAlgorithm,
  type SigningKey,
} from './keys.js';
export { KeyRing, type JwkSet, type KeyRingEntry, type KeyRingFile, type KeyRingOptions } from './key-ring.js';
export { loadKeyRing, loadOrCreateKeyRing, saveKeyRing } from './key-file.js';
export {
  ACCESS_TOKEN_TYPE,
  createIssuer,
  type AccessTokenRequest,
  type IssuedAccessToken,
  type IssuerConfig,
  type TokenIssuer,
} from './issuer.js';
export {
  DEFAULT_MAX_TOKEN_LENGTH,
  bearerToken,
  createVerifier,
  type AccessTokenVerifier,
  type VerifiedAccessToken,
  type VerifierConfig,
} from './verifier.js';
export {
  findActiveRefreshToken,
  hashRefreshToken,
  issueRefreshToken,
  revokeRefreshToken,
  rotateRefreshToken,
  type IssuedRefreshToken,
  type RefreshPolicy,
  type RefreshTokenRecord,
  type RefreshTokenStatus,
  type RefreshTokenStore,
} from './refresh-tokens.js';
export { MemoryRefreshTokenStore } from './memory-refresh-store.js';
export { MemoryDenylist, type AccessTokenDenylist } from './denylist.js';
export {
  createIntrospector,
  type IntrospectionResponse,
  type TokenIntrospector,
  type TokenIntrospectorConfig,
} from './introspection.js';
