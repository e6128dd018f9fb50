// Where the bench's Shoal processes load Shoal from: the private build named by SHOAL_DIST (a
// `tsc -p tsconfig.build.json --outDir $SHOAL_DIST` made by bench/service/build.sh, as users run
// the compiled code), or the TypeScript sources through tsx when SHOAL_DIST is unset.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `runtime/index` → the module URL in the build, or under src/ when there is no build. */
export function shoalModule(entry: string): string {
  const dist = process.env.SHOAL_DIST;
  if (dist !== undefined && dist !== '') return pathToFileURL(path.join(dist, `${entry}.js`)).href;
  return pathToFileURL(path.join(repo, 'src', `${entry}.ts`)).href;
}

export const loadRuntime = async (): Promise<typeof import('../../src/runtime/index.js')> =>
  (await import(shoalModule('runtime/index'))) as typeof import('../../src/runtime/index.js');

/** Which code the Shoal processes run, for the results. */
export const shoalCode = (): string => (process.env.SHOAL_DIST ? `build (${process.env.SHOAL_DIST})` : 'src via tsx');
