// A worker thread that runs seeds on request from the CLI's pool.

import { parentPort } from 'node:worker_threads';
import { defaultConfig, runSimulation, type RunResult } from './simulation.js';

export interface WorkRequest {
  seeds: number[];
  nodes: number;
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
  const results = req.seeds.map((seed) => runSimulation(defaultConfig(seed, req.nodes)));
  port.postMessage({ results } satisfies WorkReply);
});
