// Public surface of Shoal's shared error type. The lowest folder: imports nothing from Shoal.
export {
  ErrorCode,
  ShoalError,
  isShoalError,
  toShoalError,
  type KnownErrorCode,
  type ShoalErrorInit,
  type ShoalErrorJson,
} from './shoal-error.js';
