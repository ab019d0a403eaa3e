import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceEnv } from '../../config/env';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface WorkerProcess {
  pid: number;
  /** Resolves when the process ends, with when it ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  output(): string;
  signal(sig: NodeJS.Signals): void;
}

/**
 * `npm run start:worker` as production runs it (scripts/start.ts in a process of its own), against a stack's
 * configuration; resolves once it says it started. Stopped with a real signal.
 */
export function startWorkerProcess(env: ServiceEnv, extra: Record<string, string> = {}): Promise<WorkerProcess> {
  return startServiceProcess('worker', env, extra);
}

/** `npm run start:api` or `start:worker` in a process of its own (an API process needs `PORT` in `extra`). */
export async function startServiceProcess(role: 'api' | 'worker', env: ServiceEnv, extra: Record<string, string> = {}): Promise<WorkerProcess> {
  // The shutdown grace is production's unless `extra` sets it (a stack's own is zero, to stand for a crash).
  const vars = Object.fromEntries(Object.entries(env).filter(([k, v]) => v !== undefined && k !== 'WORKER_SHUTDOWN_GRACE_S').map(([k, v]) => [k, String(v)]));
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', role], {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    // At info, so the process says when it started (the stacks' own level is warn).
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...vars, LOG_LEVEL: 'info', ...extra },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) => {
    child.once('exit', (code, signal) => r({ code, signal, at: Date.now() }));
  });
  await new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); fail(new Error(`the ${role} process did not start within 120 s:\n${out}`)); }, 120_000);
    child.stdout.on('data', () => { if (out.includes(`${role} started`)) { clearTimeout(timer); ok(); } });
    void exited.then(({ code }) => { clearTimeout(timer); fail(new Error(`the ${role} process exited (${code}) before it started:\n${out}`)); });
  });
  return { pid: child.pid!, exited, output: () => out, signal: (sig) => { child.kill(sig); } };
}
