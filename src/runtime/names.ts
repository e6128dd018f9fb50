// Names and ids: what a service, an action and an instance id look like, in one place.
import { randomBytes } from 'node:crypto';
import { ErrorCode, ShoalError } from '../errors/index.js';

export const SERVICE_NAME = /^[a-z][a-z0-9-]*$/;
/** Action names inside a service: identifiers, as they appear after `<service>.`. */
export const ACTION_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
/** Discovery's version alphabet. */
export const VERSION = /^[0-9A-Za-z.+-]+$/;
/** Event names: dotted lowercase segments, e.g. `order.confirmed`. */
export const EVENT_NAME = /^[a-z][a-z0-9-]*(\.[A-Za-z0-9_-]+)+$/;

/** The reserved action through which the outbox pushes an event to a subscribing instance. */
export const EVENT_ACTION = '$event';

export interface ActionName {
  readonly service: string;
  readonly action: string;
}

/** `goods.reserve` → { service: 'goods', action: 'reserve' }; the service is up to the first dot. */
export function parseAction(fullName: string): ActionName {
  const dot = typeof fullName === 'string' ? fullName.indexOf('.') : -1;
  const service = dot > 0 ? fullName.slice(0, dot) : '';
  const action = dot > 0 ? fullName.slice(dot + 1) : '';
  if (!SERVICE_NAME.test(service) || action.length === 0) {
    throw new ShoalError({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `"${String(fullName)}" is not an action name: expected <service>.<action>, e.g. goods.get`,
      retryable: false,
    });
  }
  return { service, action };
}

/** One random suffix per process; a record id is `<service>-<suffix>` (unique per process start). */
export function newInstanceSuffix(): string {
  return randomBytes(4).toString('hex');
}
