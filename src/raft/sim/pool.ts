// Runs seeds on worker threads (one per core), handing out small batches on demand so a slow
// seed does not leave the other thread idle.

import { Worker } from 'node:worker_threads';
import type { RunResult } from './simulation.js';
import type { WorkReply, WorkRequest } from './worker.js';

export interface PoolOptions {
  seeds: number[];
  nodes: number;
  workers: number;
  /** `--core FILE#EXPORT`, when not the real core. */
  core?: string;
  batch?: number;
  onResults?: (results: RunResult[]) => void;
}

export async function runPool(o: PoolOptions): Promise<RunResult[]> {
  const queue = [...o.seeds];
  const batch = o.batch ?? 10;
  const all: RunResult[] = [];
  // Node 20 does not carry the main thread's loader hooks into workers, so each worker
  // registers tsx itself before loading the TypeScript worker module.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const workerUrl = new URL('./worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((t) => { t.register(); return import(${JSON.stringify(workerUrl)}); });`;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = new Worker(bootstrap, { eval: true });
      const next = () => {
        const seeds = queue.splice(0, batch);
        if (seeds.length === 0) {
          w.postMessage('stop');
          return;
        }
        w.postMessage({ seeds, nodes: o.nodes, ...(o.core !== undefined ? { core: o.core } : {}) } satisfies WorkRequest);
      };
      w.on('message', (reply: WorkReply) => {
        all.push(...reply.results);
        o.onResults?.(reply.results);
        next();
      });
      w.on('error', reject);
      w.on('exit', (code) => (code === 0 || queue.length === 0 ? resolve() : reject(new Error(`sim worker exited with ${code}`))));
      next();
    });
  await Promise.all(Array.from({ length: Math.max(1, o.workers) }, one));
  return all.sort((a, b) => a.seed - b.seed);
}
