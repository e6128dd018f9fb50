// A worker thread that runs seeds on request from the CLI's pool.

import { parentPort } from 'node:worker_threads';
import { loadCore } from './load-core.js';
import { defaultConfig, runSimulation, type RunResult } from './simulation.js';

export interface WorkRequest {
  seeds: number[];
  nodes: number;
  /** `--core FILE#EXPORT`, when not the real core. */
  core?: string;
}

export interface WorkReply {
  results: RunResult[];
}

const port = parentPort;
if (!port) throw new Error('sim worker: not running in a worker thread');
port.on('message', (req: WorkRequest | 'stop') => {
  if (req === 'stop') {
    port.close();
    return;
  }
  void loadCore(req.core).then((factory) => {
    const results = req.seeds.map((seed) => runSimulation(defaultConfig(seed, req.nodes), factory));
    port.postMessage({ results } satisfies WorkReply);
  });
});
