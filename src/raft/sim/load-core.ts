// `--core FILE#EXPORT`: run the simulator on another core than the real one, e.g. one of the
// deliberately broken variants that exist only in tests (test/raft/sim/broken-variants.ts).
// The module is loaded at run time, so nothing under src/ depends on test code.

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { coreNode, type NodeFactory } from './node-api.js';

export async function loadCore(spec: string | undefined): Promise<NodeFactory> {
  if (spec === undefined) return coreNode;
  const hash = spec.lastIndexOf('#');
  if (hash <= 0 || hash === spec.length - 1) throw new Error(`--core must be FILE#EXPORT, got ${JSON.stringify(spec)}`);
  const file = spec.slice(0, hash);
  const name = spec.slice(hash + 1);
  const mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  const factory = mod[name];
  if (typeof factory !== 'function') throw new Error(`--core: ${file} has no exported node factory ${JSON.stringify(name)}`);
  return factory as NodeFactory;
}
