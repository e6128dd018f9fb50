// Shoal's coordinator as a throw-away test server: `shoal coord` started from source with etcd's
// flag names, behind the same CoordServer interface as etcd-server.ts.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcessServer, type CoordServerKind } from './etcd-server.js';
import { LOOPBACK } from './ports.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHOAL_MAIN = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');

export const shoalCoord: CoordServerKind = {
  name: 'shoal',
  start: () => {
    if (!existsSync(SHOAL_MAIN)) {
      throw new Error(`Shoal's CLI is missing (${SHOAL_MAIN}): cannot start \`shoal coord\`. Select only etcd with SHOAL_CONTRACT_SERVERS=etcd`);
    }
    return startProcessServer({
      name: 'shoal',
      portsNeeded: 1,
      command: process.execPath,
      cwd: REPO_ROOT,
      // Starting from TypeScript source through tsx takes a few seconds on two cores.
      readyTimeoutMs: 30_000,
      args: (dataDir, [client]) => [
        '--import', 'tsx',
        SHOAL_MAIN,
        'coord',
        '--name', 'n1',
        '--data-dir', dataDir,
        '--listen-client-urls', `http://${LOOPBACK}:${client}`,
        '--advertise-client-urls', `http://${LOOPBACK}:${client}`,
      ],
    });
  },
};
