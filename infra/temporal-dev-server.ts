import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';

export type SearchAttributeTypeName = 'Text' | 'Keyword' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

const TYPE_NAMES: Record<string, SearchAttributeTypeName> = {
  TEXT: 'Text', KEYWORD: 'Keyword', INT: 'Int', DOUBLE: 'Double', BOOL: 'Bool', DATETIME: 'Datetime', KEYWORD_LIST: 'KeywordList',
};

/** Search attribute keys as the CLI spells their types (the caller passes the workflows' keys: infra knows no workflow). */
export function searchAttributeTypeNames(keys: readonly { name: string; type: string }[]): Readonly<Record<string, SearchAttributeTypeName>> {
  return Object.fromEntries(keys.map((k) => [k.name, TYPE_NAMES[k.type]!]));
}

/** Wire values of temporal.api.enums.v1.IndexedValueType. */
export const INDEXED_VALUE_TYPE: Record<SearchAttributeTypeName, number> = {
  Text: 1,
  Keyword: 2,
  Int: 3,
  Double: 4,
  Bool: 5,
  Datetime: 6,
  KeywordList: 7,
};

export interface TemporalDevServerOptions {
  /** SQLite file for persistent state; in-memory when omitted. */
  dbFile?: string;
  /** Frontend gRPC port; 0 picks a free port. Default 7233. */
  port?: number;
  /** Web UI port; 0 picks a free port. Default `port + 1000` (a free port when `port` is 0). */
  uiPort?: number;
  headless?: boolean;
  namespace?: string;
  log?: (line: string) => void;
  /** The custom search attributes to register (runtime/search-attributes.ts has the workflows' ones). */
  searchAttributes: Readonly<Record<string, SearchAttributeTypeName>>;
  /** How long to wait for the frontend to answer. Default 60 s. */
  startTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL. Default 10 s. */
  stopTimeoutMs?: number;
}

export interface TemporalDevServer {
  address: string;
  uiUrl: string | null;
  namespace: string;
  /** The server's process id (for benchmarks that account CPU per component). */
  pid: number | null;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI_SCRIPT = resolve(REPO_ROOT, 'scripts/temporal-cli.sh');
const STDERR_TAIL_LINES = 40;

export function findFreePort(host = HOST): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolvePort(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

/** Runs scripts/temporal-cli.sh and returns the binary path it prints. */
export function resolveTemporalCli(log?: (line: string) => void): Promise<string> {
  return new Promise((resolveCli, reject) => {
    execFile('bash', [CLI_SCRIPT], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      for (const line of stderr.split('\n')) if (line.trim()) log?.(line);
      const path = stdout.trim().split('\n').pop()?.trim();
      if (error || !path) {
        reject(new Error(`bash scripts/temporal-cli.sh failed (${error?.message ?? 'no path printed'}):\n${stderr.trim()}`));
        return;
      }
      resolveCli(path);
    });
  });
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const namespace = opts.namespace ?? 'default';
  const searchAttributes = opts.searchAttributes;
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
  const requestedPort = opts.port ?? 7233;
  const port = requestedPort === 0 ? await findFreePort() : requestedPort;
  const headless = opts.headless ?? false;
  let uiPort: number | null = null;
  if (!headless) {
    const requestedUiPort = opts.uiPort ?? (requestedPort === 0 ? 0 : port + 1000);
    uiPort = requestedUiPort === 0 ? await findFreePort() : requestedUiPort;
  }

  const binary = await resolveTemporalCli(opts.log);
  const args = ['server', 'start-dev', '--ip', HOST, '--port', String(port), '--namespace', namespace, '--log-level', 'warn'];
  if (uiPort !== null) args.push('--ui-port', String(uiPort));
  else args.push('--headless');
  if (opts.dbFile) {
    const dbFile = resolve(opts.dbFile);
    mkdirSync(dirname(dbFile), { recursive: true });
    args.push('--db-filename', dbFile);
  }
  for (const [name, type] of Object.entries(searchAttributes)) args.push('--search-attribute', `${name}=${type}`);

  const address = `${HOST}:${port}`;
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderrTail: string[] = [];
  forwardLines(child, 'stdout', (line) => opts.log?.(line));
  forwardLines(child, 'stderr', (line) => {
    stderrTail.push(line);
    if (stderrTail.length > STDERR_TAIL_LINES) stderrTail.shift();
    opts.log?.(line);
  });

  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitPromise = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolveExit();
    });
  });
  let spawnError: Error | null = null;
  child.once('error', (err) => {
    spawnError = err;
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (exited || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      try {
        await exitPromise;
      } finally {
        clearTimeout(timer);
      }
    })();
    return stopping;
  };

  const failure = (reason: string) => {
    const tail = stderrTail.length ? `\n--- temporal stderr (last ${stderrTail.length} lines) ---\n${stderrTail.join('\n')}` : '';
    return new Error(`Temporal dev server (${binary} ${args.join(' ')}) ${reason}${tail}`);
  };

  try {
    await waitUntilReady(address, namespace, startTimeoutMs, () => {
      if (spawnError) return failure(`could not be spawned: ${spawnError.message}`);
      if (exited) return failure(`exited early (code ${exited.code}, signal ${exited.signal})`);
      return null;
    }, failure);
    await ensureSearchAttributes(address, namespace, searchAttributes, opts.log);
  } catch (err) {
    await stop();
    throw err;
  }

  return { address, uiUrl: uiPort === null ? null : `http://${HOST}:${uiPort}`, namespace, pid: child.pid ?? null, stop };
}

function forwardLines(child: ChildProcess, stream: 'stdout' | 'stderr', onLine: (line: string) => void): void {
  let buffered = '';
  const source = child[stream];
  if (!source) return;
  source.setEncoding('utf8');
  source.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onLine(line);
  });
  source.on('end', () => {
    if (buffered.trim()) onLine(buffered);
    buffered = '';
  });
}

async function waitUntilReady(
  address: string,
  namespace: string,
  timeoutMs: number,
  checkProcess: () => Error | null,
  failure: (reason: string) => Error,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt made';
  while (Date.now() < deadline) {
    const processError = checkProcess();
    if (processError) throw processError;
    let connection: Connection | null = null;
    try {
      connection = await Connection.connect({ address, connectTimeout: 2_000 });
      const conn = connection;
      const callDeadline = Date.now() + 2_000;
      await conn.withDeadline(callDeadline, () => conn.workflowService.getSystemInfo({}));
      await conn.withDeadline(callDeadline, () => conn.workflowService.describeNamespace({ namespace }));
      return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    } finally {
      await connection?.close().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw checkProcess() ?? failure(`did not answer gRPC on ${address} within ${timeoutMs} ms (last error: ${lastError})`);
}

/**
 * start-dev registers --search-attribute only when it creates the namespace, so attributes added
 * after a persisted database was first created are registered here.
 */
async function ensureSearchAttributes(
  address: string,
  namespace: string,
  wanted: Readonly<Record<string, SearchAttributeTypeName>>,
  log?: (line: string) => void,
): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 5_000 });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const registered: Record<string, unknown> = { ...existing.systemAttributes, ...existing.customAttributes };
    const missing: Record<string, number> = {};
    const conflicts: string[] = [];
    for (const [name, type] of Object.entries(wanted)) {
      const current = registered[name];
      if (current === undefined) missing[name] = INDEXED_VALUE_TYPE[type];
      else if (Number(current) !== INDEXED_VALUE_TYPE[type]) conflicts.push(`${name} is registered with type ${typeName(Number(current))}, expected ${type}`);
    }
    if (conflicts.length) {
      throw new Error(`Temporal namespace "${namespace}" at ${address} has conflicting search attributes: ${conflicts.join('; ')}`);
    }
    if (Object.keys(missing).length) {
      log?.(`registering search attributes on "${namespace}": ${Object.keys(missing).join(', ')}`);
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

function typeName(value: number): string {
  return Object.entries(INDEXED_VALUE_TYPE).find(([, v]) => v === value)?.[0] ?? `#${value}`;
}
