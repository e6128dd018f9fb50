// Keyset paging cursor over a user's orders (newest first): the last id of a page, wrapped so
// callers treat it as opaque and a version tag leaves room to change what it holds.
import { invalidArgument } from '../common/index.js';

const TAG = 'o1:';

export function encodeCursor(lastId: string): string {
  return Buffer.from(TAG + lastId, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!text.startsWith(TAG) || text.length === TAG.length || encodeCursor(text.slice(TAG.length)) !== cursor) {
    throw invalidArgument('invalid cursor', { cursor });
  }
  return text.slice(TAG.length);
}
