// Starts `shoal coord` as a real child process on 127.0.0.1 (port 0: the server reports the
// port it bound) with a temp data dir, and talks to it with etcdctl and raw gRPC.
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { spawnCoord } from '../support/shoal-coord.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const PROTO_DIR = join(REPO, 'proto');
const READY_TIMEOUT_MS = 20_000;

export interface CoordProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly endpoint: string;
  readonly dataDir: string;
  /** Every stderr line so far (pino JSON). */
  readonly logs: string[];
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

const started: CoordProcess[] = [];
const tempDirs: string[] = [];

export function tempDir(prefix = 'shoal-coord-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Starts a member; resolves once it logged that it is ready, with the bound endpoint. */
export async function startCoord(options: { dataDir?: string; args?: string[] } = {}): Promise<CoordProcess> {
  const dataDir = options.dataDir ?? join(tempDir(), 'data');
  const logs: string[] = [];
  const args = ['--data-dir', dataDir, '--listen-client-urls', 'http://127.0.0.1:0', ...(options.args ?? [])];
  const { child, exited, ready } = spawnCoord(args, logs, 'shoal coord', READY_TIMEOUT_MS);
  let line: string;
  try {
    line = await ready;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const url = (JSON.parse(line) as { clientUrls: string[] }).clientUrls[0];
  const proc: CoordProcess = {
    child,
    pid: child.pid!,
    endpoint: url.replace('http://', ''),
    dataDir,
    logs,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
      return exited;
    },
  };
  started.push(proc);
  return proc;
}

/** Stops every member this test file started (by PID) and removes temp dirs. */
export async function stopAll(): Promise<void> {
  for (const p of started.splice(0)) await p.stop('SIGKILL');
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface EtcdctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function etcdctl(endpoint: string, args: string[], input?: string): Promise<EtcdctlResult> {
  return new Promise((resolve) => {
    const child = execFile(
      '/usr/bin/etcdctl',
      ['--endpoints', endpoint, '--dial-timeout', '3s', '--command-timeout', '5s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

let packages: grpc.GrpcObject | null = null;

/** gRPC clients generated from our proto files (keepCase false, longs as strings). */
export function grpcPackages(): grpc.GrpcObject {
  packages ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(['etcdserverpb/rpc.proto', 'v3lockpb/v3lock.proto', 'v3electionpb/v3election.proto'], {
      includeDirs: [PROTO_DIR],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    }),
  );
  return packages;
}

type ClientCtor = new (address: string, creds: grpc.ChannelCredentials) => grpc.Client;

export function client(pkgPath: string, endpoint: string): grpc.Client & Record<string, unknown> {
  let obj: unknown = grpcPackages();
  for (const part of pkgPath.split('.')) obj = (obj as Record<string, unknown>)[part];
  const Ctor = obj as ClientCtor;
  return new Ctor(endpoint, grpc.credentials.createInsecure()) as grpc.Client & Record<string, unknown>;
}

/** Promisified unary call on a generated client. */
export function call<T = Record<string, unknown>>(c: grpc.Client & Record<string, unknown>, method: string, req: object, deadlineMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = c[method] as (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: T) => void) => void;
    fn.call(c, req, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** A raw unary call: sends `bytes` as the request body exactly, returns the response bytes. */
export function rawCall(endpoint: string, path: string, bytes: Buffer, deadlineMs = 10_000): Promise<Buffer> {
  const c = new grpc.Client(endpoint, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    c.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      { deadline: Date.now() + deadlineMs },
      (err, res) => {
        c.close();
        if (err) reject(err);
        else resolve(res as Buffer);
      },
    );
  });
}
