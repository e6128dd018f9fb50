// Keyset paging cursor: the last id of a page, wrapped so callers treat it as opaque, with a
// version tag per listing ('g1:' goods, 'o1:' orders) that leaves room to change what it holds and
// keeps one listing's cursor from being accepted by another.
import { invalidArgument } from './errors.js';

export interface PageCursor {
  encode(lastId: string): string;
  decode(cursor: string): string;
}

export function pageCursor(tag: string): PageCursor {
  const encode = (lastId: string): string => Buffer.from(tag + lastId, 'utf8').toString('base64url');
  return {
    encode,
    decode(cursor: string): string {
      const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
      if (!text.startsWith(tag) || text.length === tag.length || encode(text.slice(tag.length)) !== cursor) {
        throw invalidArgument('invalid cursor', { cursor });
      }
      return text.slice(tag.length);
    },
  };
}
