// The process entry files load (every import resolves under tsx) and refuse to start without a
// coordinator, with a message and a non-zero exit instead of an unhandled rejection.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('service entry files', () => {
  for (const service of ['users', 'goods']) {
    it(`src/shop/${service}/main.ts exits 1 when SHOAL_COORD is missing`, async () => {
      const env = { ...process.env };
      delete env.SHOAL_COORD;
      const child = spawn(process.execPath, ['--import', 'tsx', `src/shop/${service}/main.ts`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(1);
      expect(stderr).toContain(`${service}: failed to start`);
      expect(stderr).toContain('SHOAL_COORD is not set');
    });
  }
});
