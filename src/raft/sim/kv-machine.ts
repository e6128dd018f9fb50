// The replicated state machine the simulator drives: a tiny key-value map with put and
// compare-and-set, applied from committed entries. Commands carry the client's request id and
// are applied at most once (the thesis' client sessions, section 6.3): a proposal duplicated by
// the network or re-proposed is committed twice but takes effect once.

import type { Entry } from '../types.js';

export type Command =
  | { id: string; op: 'put'; key: string; value: number }
  | { id: string; op: 'cas'; key: string; expect: number | null; value: number };

/** put: null. cas: whether it swapped. */
export type CommandResult = boolean | null;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(c: Command): Uint8Array {
  return encoder.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): Command {
  return JSON.parse(decoder.decode(data)) as Command;
}

export function hashBytes(data: Uint8Array, h = 0x811c9dc5): number {
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return h >>> 0;
}

export class KvMachine {
  private data = new Map<string, number>();
  private results = new Map<string, CommandResult>();
  /** Changes with every state change; equal states have equal hashes by construction. */
  hash = 0;

  get(key: string): number | null {
    return this.data.get(key) ?? null;
  }

  /** Applies a committed entry; returns the command's id and result (undefined for no-ops). */
  apply(entry: Entry): { id: string; result: CommandResult } | undefined {
    if (entry.type !== 'normal' || entry.data.length === 0) return undefined;
    const c = decodeCommand(entry.data);
    const earlier = this.results.get(c.id);
    if (earlier !== undefined) return { id: c.id, result: earlier };
    let result: CommandResult = null;
    if (c.op === 'put') {
      this.data.set(c.key, c.value);
    } else {
      result = this.get(c.key) === c.expect;
      if (result) this.data.set(c.key, c.value);
    }
    this.results.set(c.id, result);
    this.rehash();
    return { id: c.id, result };
  }

  private rehash(): void {
    let h = 0x811c9dc5;
    const keys = [...this.data.keys()].sort();
    for (const k of keys) h = hashBytes(encoder.encode(`${k}=${this.data.get(k)};`), h);
    this.hash = (h ^ Math.imul(this.results.size, 0x9e3779b1)) >>> 0;
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify({ data: [...this.data], results: [...this.results] }));
  }

  restore(image: Uint8Array): void {
    if (image.length === 0) {
      this.data = new Map();
      this.results = new Map();
    } else {
      const s = JSON.parse(decoder.decode(image)) as { data: [string, number][]; results: [string, CommandResult][] };
      this.data = new Map(s.data);
      this.results = new Map(s.results);
    }
    this.rehash();
  }
}
