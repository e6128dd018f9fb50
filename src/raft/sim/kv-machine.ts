// The replicated state machine the simulator drives: a tiny key-value map with put and
// compare-and-set, applied from committed entries. Commands carry the client id and a per-client
// sequence number and are applied at most once (the thesis' client sessions, section 6.3): a
// proposal duplicated by the network or retried by the client is committed twice but takes
// effect once, and a retry is answered with the first outcome.

import type { Entry } from '../types.js';

export type Command =
  | { client: number; seq: number; op: 'put'; key: string; value: number }
  | { client: number; seq: number; op: 'cas'; key: string; expect: number | null; value: number };

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

function hashString(s: string, h: number): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

interface Session {
  seq: number;
  result: CommandResult;
}

export class KvMachine {
  private data = new Map<string, number>();
  /** Per client: its latest applied command. Clients have one command in flight at a time. */
  private sessions = new Map<number, Session>();
  /** Changes with every state change; equal states have equal hashes by construction. */
  hash = 0;

  get(key: string): number | null {
    return this.data.get(key) ?? null;
  }

  /**
   * Applies a committed entry. Returns the client, sequence number and result of the command
   * (the first result again for a duplicate), or undefined for no-ops and stale duplicates.
   */
  apply(entry: Entry): { client: number; seq: number; result: CommandResult } | undefined {
    if (entry.type !== 'normal' || entry.data.length === 0) return undefined;
    const c = decodeCommand(entry.data);
    const session = this.sessions.get(c.client);
    if (session && c.seq < session.seq) return undefined;
    if (session && c.seq === session.seq) return { client: c.client, seq: c.seq, result: session.result };
    let result: CommandResult = null;
    if (c.op === 'put') {
      this.data.set(c.key, c.value);
    } else {
      result = this.get(c.key) === c.expect;
      if (result) this.data.set(c.key, c.value);
    }
    this.sessions.set(c.client, { seq: c.seq, result });
    this.rehash();
    return { client: c.client, seq: c.seq, result };
  }

  private rehash(): void {
    let h = 0x811c9dc5;
    for (const k of [...this.data.keys()].sort()) h = hashString(`${k}=${this.data.get(k)};`, h);
    for (const c of [...this.sessions.keys()].sort((a, b) => a - b)) h = hashString(`${c}:${this.sessions.get(c)!.seq};`, h);
    this.hash = h;
  }

  snapshot(): Uint8Array {
    return encoder.encode(JSON.stringify({ data: [...this.data], sessions: [...this.sessions] }));
  }

  restore(image: Uint8Array): void {
    if (image.length === 0) {
      this.data = new Map();
      this.sessions = new Map();
    } else {
      const s = JSON.parse(decoder.decode(image)) as { data: [string, number][]; sessions: [number, Session][] };
      this.data = new Map(s.data);
      this.sessions = new Map(s.sessions);
    }
    this.rehash();
  }
}
