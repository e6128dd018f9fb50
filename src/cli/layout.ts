// What `shoal up` writes into its data dir so that a restart, and `shoal status`, find the same
// cluster: the cluster token and each coordinator's name, URLs and data dir. A fresh data dir
// gets a new layout (a new cluster); an existing one is reused as it is (etcd likewise ignores
// its bootstrap flags once a member has data).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface CoordinatorLayout {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
}

export interface ClusterLayout {
  version: 1;
  token: string;
  coordinators: CoordinatorLayout[];
}

const FILE = 'shoal.json';
const LOOPBACK = '127.0.0.1';

/** Coordinator i (from 0) listens for clients on port + 10 + 2i and for peers on the next port. */
export function coordinatorPorts(port: number, i: number): { client: number; peer: number } {
  return { client: port + 10 + 2 * i, peer: port + 11 + 2 * i };
}

export function newLayout(dataDir: string, port: number, coordinators: number): ClusterLayout {
  const root = resolve(dataDir);
  return {
    version: 1,
    token: `shoal-${randomBytes(6).toString('hex')}`,
    coordinators: Array.from({ length: coordinators }, (_, i) => {
      const { client, peer } = coordinatorPorts(port, i);
      return {
        name: `coord${i + 1}`,
        clientUrl: `http://${LOOPBACK}:${client}`,
        peerUrl: `http://${LOOPBACK}:${peer}`,
        dataDir: join(root, 'coord', `coord${i + 1}`),
      };
    }),
  };
}

/** The stored layout, or null for a fresh data dir. */
export async function readLayout(dataDir: string): Promise<ClusterLayout | null> {
  let text: string;
  try {
    text = await readFile(join(dataDir, FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const layout = JSON.parse(text) as ClusterLayout;
  if (layout.version !== 1 || !Array.isArray(layout.coordinators) || typeof layout.token !== 'string') {
    throw new Error(`${join(dataDir, FILE)} is not a Shoal cluster layout`);
  }
  return layout;
}

export async function writeLayout(dataDir: string, layout: ClusterLayout): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  const path = join(dataDir, FILE);
  await writeFile(path + '.tmp', JSON.stringify(layout, null, 2) + '\n');
  await rename(path + '.tmp', path);
}
