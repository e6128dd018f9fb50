// Shoal's coordinator as a throw-away test server: `shoal coord` started from source with etcd's
// flag names, behind the same CoordServer interface as etcd-server.ts.
import { spawn, type ChildProcess } from 'node:child_process';
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

export interface CoordChild {
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** The stderr line reporting it serves clients; rejects if it exits first or is not ready in time. */
  readonly ready: Promise<string>;
}

/**
 * Spawns `shoal coord <args>` from source (the caller stops it by PID). Every stderr line (pino
 * JSON) is appended to `logs`; readiness is the log line, which also names the bound client URL.
 */
export function spawnCoord(args: string[], logs: string[], label: string, readyTimeoutMs: number): CoordChild {
  const child = spawn(process.execPath, ['--import', 'tsx', SHOAL_MAIN, 'coord', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const ready = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} not ready in ${readyTimeoutMs} ms:\n${logs.join('\n')}`)), readyTimeoutMs);
    let buffered = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        logs.push(line);
        if (line.includes('ready to serve client requests')) {
          clearTimeout(timer);
          resolve(line);
        }
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited (${code}) before it was ready:\n${logs.slice(-20).join('\n')}`));
    });
  });
  return { child, exited, ready };
}
