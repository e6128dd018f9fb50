// The log record of one command: a shoalpb.Command protobuf (proto/shoalpb/command.proto),
// which wraps etcd's own request messages the way etcd's log wraps them in its internal
// raft request. Decoding goes through the same validation as requests at the gRPC edge.
import type { Command } from '../types.js';
import { messageType } from './proto-root.js';
import { commandFromWire, commandToWire, type WireMsg } from './wire.js';
import type protobuf from 'protobufjs';

let commandType: protobuf.Type | null = null;

function type(): protobuf.Type {
  if (commandType === null) commandType = messageType('shoalpb.Command');
  return commandType;
}

export function encodeCommand(cmd: Command): Buffer {
  return type().encode(commandToWire(cmd)).finish() as Buffer;
}

export function decodeCommand(buf: Uint8Array): Command {
  return commandFromWire(type().decode(buf) as unknown as WireMsg);
}
