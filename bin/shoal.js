#!/usr/bin/env node
// The `shoal` command. Runs the compiled CLI; `npm run build` (or `npm start`) produces it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('shoal: not built yet; run `npm run build` first\n');
  process.exit(1);
}
await import(main);
