// msgpack bodies of each frame type. Requests and events are positional arrays (smaller and
// faster than maps); meta is null when empty so the common call carries no map at all.
import { Packr } from 'msgpackr';
import { ShoalError, type ShoalErrorJson } from '../../errors/index.js';
import type { CallMeta } from '../types.js';

/** copyBuffers: binary params must not pin the whole socket chunk they arrived in. */
const packr = new Packr({ useRecords: false, copyBuffers: true });

export const PROTOCOL_VERSION = 1;

export function packBody(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpackBody(body: Buffer): unknown {
  return packr.unpack(body);
}

export function packRequest(action: string, params: unknown, meta: CallMeta | null): Buffer {
  return packr.pack([action, params, meta]);
}

export interface DecodedMessage {
  name: string;
  params: unknown;
  meta: CallMeta;
}

/** Requests and events share a shape: [name, params|payload, meta|null]. */
export function unpackMessage(body: Buffer): DecodedMessage {
  const v = packr.unpack(body) as unknown;
  if (!Array.isArray(v) || v.length !== 3 || typeof v[0] !== 'string') {
    throw new TypeError('malformed request/event body');
  }
  const meta = v[2];
  if (meta !== null && (typeof meta !== 'object' || Array.isArray(meta))) throw new TypeError('malformed meta');
  return { name: v[0], params: v[1], meta: (meta ?? {}) as CallMeta };
}

export const packEvent = packRequest;

export function packError(error: ShoalError): Buffer {
  return packr.pack(error.toJSON());
}

export function unpackError(body: Buffer): ShoalError {
  return ShoalError.fromJSON(packr.unpack(body) as ShoalErrorJson);
}

export interface Hello {
  protocol: number;
  instance: string;
  maxFrameBytes: number;
}

export function packHello(hello: Hello): Buffer {
  return packr.pack(hello);
}

export function unpackHello(body: Buffer): Hello {
  const v = packr.unpack(body) as Partial<Hello> | null;
  if (v === null || typeof v !== 'object' || typeof v.protocol !== 'number' || typeof v.instance !== 'string' || typeof v.maxFrameBytes !== 'number') {
    throw new TypeError('malformed hello');
  }
  return { protocol: v.protocol, instance: v.instance, maxFrameBytes: v.maxFrameBytes };
}
