// Shared by the shop tests: temp data dirs and cheap scrypt parameters.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PasswordHashOptions } from '../../src/shop/users/index.js';

/** 2^10 instead of 2^15: tests hash often; the cost parameters are not what they check. */
export const CHEAP_HASH: PasswordHashOptions = { params: { N: 2 ** 10, r: 8, p: 1 } };

export interface TempDir {
  readonly path: string;
  file(name: string): string;
  remove(): void;
}

export function tempDir(prefix = 'shoal-shop-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, file: (name) => join(path, name), remove: () => rmSync(path, { recursive: true, force: true }) };
}
