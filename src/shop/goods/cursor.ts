// This listing's keyset paging cursor (see common/cursor.ts).
import { pageCursor } from '../common/cursor.js';

const cursor = pageCursor('g1:');
export const encodeCursor = cursor.encode;
export const decodeCursor = cursor.decode;
