/**
 * What every chaos fault runs against: a Temporal dev server persisting to SQLite (so it can be restarted), a fresh
 * PostgreSQL database on the machine's server, the NetBox and proxbox-api simulators on loopback, our API in this
 * process and workers in processes of their own (so they can be killed with SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { parseEnv, type ServiceEnv } from '../config/env';
import { SettingsStore } from '../db/settings';
import { UserStore } from '../db/users';
import { newSecretKey } from '../domain/secret-box';
import { CONFIRMATION_PHRASE } from '../domain/settings';
import { createFreshDatabase, TEST_PG_ADMIN_URL } from '../infra/scratch-database';
import { findFreePort, startTemporalDevServer, type TemporalDevServer } from '../infra/temporal-dev-server';
import { SEARCH_ATTRIBUTES } from '../runtime/search-attributes';
import { startSystem, type RunningSystem } from '../runtime/system';
import { bundleWorkflows, installWorkerRuntime } from '../runtime/worker';
import { reconcilerScheduleId } from '../services/reconciler-schedule';
import { createNetboxSimulator, DEMO, type NetboxSimulator } from '../simulators/netbox';
import { createProxboxSimulator, type ProxboxSimulator } from '../simulators/proxbox-api';
import { seedWritableCluster } from '../simulators/proxbox-api/demo';

export const NODES = ['pve01', 'pve02', 'pve03', 'pve04'] as const;
const WEBHOOK_SECRET = 'chaos-webhook-secret-0123456789';
const PROXBOX_KEY = 'sim-proxbox-key';
/** proxbox-api calls give up after this long (a fault that slows a call past it is a timeout). */
export const PROXBOX_TIMEOUT_MS = 3_000;

export interface WorkerChild { pid: number; process: ChildProcess; exited: Promise<void>; output(): string }

export interface Harness {
  api: RunningSystem;
  apiUrl: string;
  env: ServiceEnv;
  databaseName: string;
  netbox: NetboxSimulator;
  proxbox: ProxboxSimulator;
  tokens: { alice: string; bob: string; carol: string };
  workers: Set<WorkerChild>;
  /** Workers that exited without being killed (each is replaced at once); the suite fails on any. */
  crashes: string[];
  /** A worker process; `env` overrides the service's settings for it alone. */
  startWorker(env?: Record<string, string>): Promise<WorkerChild>;
  /** kill -9, as a lost machine. */
  killWorker(w: WorkerChild): Promise<void>;
  /** Stops every worker still running (SIGKILL: nothing of theirs is awaited). */
  killAllWorkers(): Promise<void>;
  restartTemporal(downMs: number): Promise<void>;
  stopNetbox(): Promise<void>;
  startNetbox(): Promise<void>;
  /** pg_terminate_backend on every connection to the service's database; how many it ended. */
  dropDatabaseConnections(): Promise<number>;
  call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** Bundles the workflows once into `path` (harnesses started with it skip their own bundling). */
export async function bundleWorkflowsTo(path: string): Promise<string> {
  writeFileSync(path, (await bundleWorkflows()).code);
  return path;
}

export async function startHarness(log: (line: string) => void, opts: { bundlePath?: string } = {}): Promise<Harness> {
  installWorkerRuntime('error');
  const dir = mkdtempSync(join(os.tmpdir(), 'proxbox-chaos-'));
  const temporalPort = await findFreePort();
  const temporalOptions = { port: temporalPort, headless: true, dbFile: join(dir, 'temporal.sqlite'), searchAttributes: SEARCH_ATTRIBUTES, log: () => {} };
  const [firstTemporal, database] = await Promise.all([startTemporalDevServer(temporalOptions), createFreshDatabase('proxbox_chaos')]);
  let temporal: TemporalDevServer = firstTemporal;
  const databaseName = new URL(database.url).pathname.slice(1);
  const netbox = createNetboxSimulator({ demo: true });
  const netboxPort = await findFreePort();
  await netbox.listen(netboxPort);
  const proxbox = createProxboxSimulator({ apiKeys: [PROXBOX_KEY], capabilities: { registerDeletion: true, taskStatus: true }, taskDurationMs: 1_000, rateLimitPerMinute: 10_000_000 });
  seedWritableCluster(proxbox.cluster, 'chaos', NODES);
  const pb = await proxbox.listen(0);
  const env = parseEnv({
    PORT: '0', DATABASE_URL: database.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_TASK_QUEUE: 'chaos',
    NETBOX_URL: `http://127.0.0.1:${netboxPort}`, NETBOX_TOKEN: 'nbt_simkey.simtoken', NETBOX_WEBHOOK_SECRET: WEBHOOK_SECRET,
    NETBOX_TIMEOUT_MS: '3000',
    APPROVAL_SIGNING_SECRET: 'chaos-approval-signing-secret-01', SECRETS_ENCRYPTION_KEY: newSecretKey(), PROXBOX_API_ALLOW_HTTP: 'true',
    APPLY_MAX_CONCURRENCY: '16', APPLY_MAX_PER_NODE: '4', PROXMOX_TASK_POLL_MS: '250', LOG_LEVEL: 'error',
    AUTH_FAILURES_PER_IP: '100000', RECONCILE_INTERVAL_S: '60',
    // A worker that is asked to stop (only at the end of the suite) stops at once.
    WORKER_SHUTDOWN_GRACE_S: '0',
  });
  const bundlePath = opts.bundlePath ?? await bundleWorkflowsTo(join(dir, 'workflows.js'));
  const api = await startSystem({ env, role: 'api' });
  const apiUrl = api.apiUrl!;
  const db = api.database.db;
  const users = new UserStore(db);
  await users.create('alice', ['intent_create_vm', 'intent_update_vm', 'intent_delete_vm', 'view']);
  await users.create('bob', ['authorize_deletion_request', 'view']);
  await users.create('carol', ['view', 'cancel_apply_job']);
  const tokens = {
    alice: (await users.createToken('alice'))!.token, bob: (await users.createToken('bob'))!.token, carol: (await users.createToken('carol'))!.token,
  };
  await new SettingsStore(db).update({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, 'chaos');
  await api.endpoints.putBackend({ url: pb.url, apiKey: PROXBOX_KEY, timeoutMs: PROXBOX_TIMEOUT_MS });
  await api.endpoints.create({ name: 'chaos', backendEndpointId: 1, allowWrites: true, clusters: [String(DEMO.clusterId)], isDefault: true });
  netbox.addWebhookTarget({ url: `${apiUrl}/api/v1/hooks/netbox`, secret: WEBHOOK_SECRET });

  const workerVars = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
  const workers = new Set<WorkerChild>();
  let stopping = false;
  const startWorker = async (overrides: Record<string, string> = {}): Promise<WorkerChild> => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./worker.ts', import.meta.url))], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...workerVars, ...overrides, CHAOS_BUNDLE_PATH: bundlePath },
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); fail(new Error(`a worker did not start within 120 s:\n${out}`)); }, 120_000);
      child.stdout!.on('data', () => { if (out.includes('worker started')) { clearTimeout(timer); ok(); } });
      void exited.then(() => { clearTimeout(timer); fail(new Error(`a worker exited before it started:\n${out}`)); });
    });
    const w: WorkerChild = { pid: child.pid!, process: child, exited, output: () => out };
    workers.add(w);
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL' || stopping) return;
      // A crash: counted (a finding of its own), and replaced as an orchestrator would, so the run can still converge.
      harness.crashes.push(`worker ${w.pid} exited by itself (${signal ?? code}): ${out.trim().split('\n').slice(-6).join(' | ')}`.slice(0, 600));
      log(`  ! ${harness.crashes.at(-1)}; a new worker replaces it`);
      void replace(overrides);
    });
    void exited.then(() => workers.delete(w));
    return w;
  };
  /** Starts workers until one is up (each that exits before it started is a crash too), as an orchestrator would. */
  const replace = async (overrides: Record<string, string>) => {
    while (!stopping) {
      try {
        await startWorker(overrides);
        return;
      } catch (e) {
        harness.crashes.push(`a replacement worker exited before it started: ${String(e).split('\n').slice(0, 4).join(' | ')}`.slice(0, 600));
        log(`  ! ${harness.crashes.at(-1)}; another one is started`);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  };
  const killWorker = async (w: WorkerChild) => {
    w.process.kill('SIGKILL');
    await w.exited;
  };

  const harness: Harness = {
    api, apiUrl, env, databaseName, netbox, proxbox, tokens, workers, crashes: [], startWorker, killWorker,
    async killAllWorkers() {
      stopping = true;
      await Promise.all([...workers].map(killWorker));
      stopping = false;
    },
    async restartTemporal(downMs) {
      await temporal.stop();
      log(`  Temporal dev server stopped; down for ${downMs / 1000} s`);
      await new Promise((r) => setTimeout(r, downMs));
      temporal = await startTemporalDevServer(temporalOptions);
      log('  Temporal dev server started again on the same port and SQLite file');
    },
    stopNetbox: () => netbox.close(),
    async startNetbox() { await netbox.listen(netboxPort); },
    async dropDatabaseConnections() {
      const admin = postgres(TEST_PG_ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        const rows = await admin<{ ok: boolean }[]>`select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = ${databaseName} and pid <> pg_backend_pid()`;
        return rows.filter((r) => r.ok).length;
      } finally {
        await admin.end();
      }
    },
    async call(token, method, path, body) {
      const res = await fetch(`${apiUrl}${path}`, {
        method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = text ? JSON.parse(text) : null; } catch { /* keep the text */ }
      return { status: res.status, body: parsed };
    },
    async stop() {
      stopping = true;
      await Promise.all([...workers].map(killWorker));
      await api.temporal.schedule.getHandle(reconcilerScheduleId(env.TEMPORAL_TASK_QUEUE)).delete().catch(() => {});
      await api.stop();
      await netbox.close();
      await proxbox.close();
      await database.drop();
      await temporal.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
