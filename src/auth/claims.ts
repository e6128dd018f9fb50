// The shape rules for what goes into an access token and what a verified one must contain.
// Shared by issuer and verifier so a token we issue always passes our own shape checks.
import { AuthError, AuthErrorCode } from './errors.js';

const MAX_SUBJECT = 255;
const MAX_SCOPES = 64;
const MAX_ROLES = 32;
// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const ROLE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1F\x7F]/;

export function isValidSubject(sub: unknown): sub is string {
  return typeof sub === 'string' && sub.length > 0 && sub.length <= MAX_SUBJECT && !CONTROL.test(sub);
}

/** Scope as a list from either the list or the space-delimited (wire) form; undefined if invalid. */
export function parseScope(scope: unknown): string[] | undefined {
  if (scope === undefined) return [];
  const list = typeof scope === 'string' ? (scope === '' ? [] : scope.split(' ')) : scope;
  if (!Array.isArray(list) || list.length > MAX_SCOPES) return undefined;
  if (!list.every((s): s is string => typeof s === 'string' && SCOPE_TOKEN.test(s))) return undefined;
  return [...new Set(list)];
}

export function parseRoles(roles: unknown): string[] | undefined {
  if (roles === undefined) return [];
  if (!Array.isArray(roles) || roles.length > MAX_ROLES) return undefined;
  if (!roles.every((r): r is string => typeof r === 'string' && ROLE.test(r))) return undefined;
  return [...new Set(roles)];
}

export function claimsRejected(what: string): AuthError {
  return new AuthError(AuthErrorCode.CLAIMS_REJECTED, `cannot issue token: ${what}`);
}
