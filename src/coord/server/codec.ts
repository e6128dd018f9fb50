// gRPC service definitions built from the proto files, with protobufjs (de)serializers.
//
// A request that fails to decode or validate does not throw inside grpc-js (which would answer
// INTERNAL): the deserializer returns the CoordError instead, and the handler answers with it.
// Each method may convert the decoded message to the coordinator's request shape right here,
// so handlers receive ready, validated requests.
import type * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { CoordError } from '../types.js';
import { protoRoot, type WireMsg } from '../node/index.js';

/** etcd's --max-request-bytes default: 1.5 MiB. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** gRPC's receive limit leaves room above the request limit, as etcd's does (512 KiB). */
export const MAX_RECEIVE_BYTES = MAX_REQUEST_BYTES + 512 * 1024;

export const ErrRequestTooLarge = (): CoordError =>
  new CoordError('INVALID_ARGUMENT', 'etcdserver: request is too large');

/** How a method turns its decoded message into the handler's request. */
export type Converter = (m: WireMsg) => unknown;

export type ServiceDef = grpc.ServiceDefinition<grpc.UntypedServiceImplementation>;

/** A decoded request: the converted value, or the error that rejects it. */
export type Decoded<T> = T | CoordError;

export function serviceDefinition(serviceName: string, converters: Record<string, Converter> = {}): ServiceDef {
  const service = protoRoot().lookupService(serviceName);
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methodsArray) {
    const reqType = method.resolvedRequestType as protobuf.Type;
    const resType = method.resolvedResponseType as protobuf.Type;
    const convert = converters[method.name];
    def[method.name] = {
      path: `/${serviceName}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: (m: unknown) => reqType.encode(m as object).finish() as Buffer,
      requestDeserialize: (buf: Buffer) => decodeRequest(reqType, buf, convert),
      responseSerialize: (m: unknown) => resType.encode(m as object).finish() as Buffer,
      responseDeserialize: (buf: Buffer) => resType.decode(buf),
    };
  }
  return def as ServiceDef;
}

function decodeRequest(type: protobuf.Type, buf: Buffer, convert: Converter | undefined): unknown {
  if (buf.length > MAX_REQUEST_BYTES) return ErrRequestTooLarge();
  let m: WireMsg;
  try {
    m = type.decode(buf) as unknown as WireMsg;
  } catch (err) {
    return new CoordError('INVALID_ARGUMENT', `shoal: malformed ${type.name}: ${(err as Error).message}`);
  }
  if (convert === undefined) return m;
  try {
    return convert(m);
  } catch (err) {
    if (err instanceof CoordError) return err;
    return new CoordError('INVALID_ARGUMENT', `shoal: invalid ${type.name}: ${(err as Error).message}`);
  }
}
