import { Client, Connection } from '@temporalio/client';
import type { WorkflowBundle } from '@temporalio/worker';
import { createApp } from '../api/app';
import { ApplyEventHub } from '../api/event-hub';
import { NetboxClient } from '../clients/netbox';
import type { ServiceEnv } from '../config/env';
import { ApplyJobStore } from '../db/apply-jobs';
import { openDatabase, type Database } from '../db/client';
import { DeletionRequestStore } from '../db/deletion-requests';
import { EndpointStore } from '../db/endpoints';
import { SettingsStore } from '../db/settings';
import { UserStore } from '../db/users';
import { ApplyStarter } from '../services/apply-starter';
import { ensureReconcilerSchedule } from '../services/reconciler-schedule';
import { serveHttp, type RunningServer } from '../infra/http-server';
import { createIntentWorker, installWorkerRuntime } from './worker';

const HOOK_NETBOX_TIMEOUT_MS = 5_000;

export interface SystemOptions {
  env: ServiceEnv;
  role: 'api' | 'worker' | 'all';
  /** Used when DATABASE_URL is unset (the dev stack's embedded PGlite). */
  pgliteDir?: string;
  bundle?: WorkflowBundle;
  hostname?: string;
  taskPollMs?: number;
  /** Test hook (see ActivityDeps.deletionTtlOverrideMs): deliberately not read from the environment. */
  deletionTtlOverrideMs?: number;
}

export interface RunningSystem {
  database: Database;
  temporal: Client;
  api: RunningServer | null;
  apiUrl: string | null;
  stop(): Promise<void>;
}

/** Wires the API and/or the worker from configuration; used by `npm start`, the dev stack and the e2e tests. */
export async function startSystem(opts: SystemOptions): Promise<RunningSystem> {
  const { env } = opts;
  if (!env.APPROVAL_SIGNING_SECRET) throw new Error('APPROVAL_SIGNING_SECRET is required');
  const database = await openDatabase({ ...(env.DATABASE_URL ? { url: env.DATABASE_URL } : {}), ...(opts.pgliteDir ? { pgliteDir: opts.pgliteDir } : {}) });
  const db = database.db;
  const users = new UserStore(db);
  const endpoints = new EndpointStore(db);
  await endpoints.seedFromEnvironment(env);
  if (env.BOOTSTRAP_ADMIN_TOKEN) await users.bootstrapAdmin(env.BOOTSTRAP_ADMIN_TOKEN);

  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const netboxOptions = { baseUrl: env.NETBOX_URL ?? 'http://127.0.0.1:1', token: env.NETBOX_TOKEN ?? 'unset', pageSize: env.NETBOX_PAGE_SIZE };
  const netbox = new NetboxClient({ ...netboxOptions, timeoutMs: env.NETBOX_TIMEOUT_MS });
  const starterFor = (client: NetboxClient) => new ApplyStarter({
    netbox: client, jobs: new ApplyJobStore(db), temporal, taskQueue: env.TEMPORAL_TASK_QUEUE, maxConcurrency: env.APPLY_MAX_CONCURRENCY,
  });
  const stoppers: (() => Promise<void>)[] = [];

  let workerRun: Promise<void> | null = null;
  if (opts.role !== 'api') {
    installWorkerRuntime(env.LOG_LEVEL === 'info' ? 'warn' : env.LOG_LEVEL);
    const { worker, connection: nativeConnection } = await createIntentWorker({
      address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE, taskQueue: env.TEMPORAL_TASK_QUEUE, ...(opts.bundle ? { bundle: opts.bundle } : {}),
      shutdownGraceMs: env.WORKER_SHUTDOWN_GRACE_S * 1000,
      deps: {
        jobs: new ApplyJobStore(db), deletions: new DeletionRequestStore(db), settings: new SettingsStore(db), endpoints, users, netbox,
        approvalSecret: env.APPROVAL_SIGNING_SECRET, db, locks: database.locks, maxWritesPerNode: env.APPLY_MAX_PER_NODE, ...(opts.taskPollMs ? { taskPollMs: opts.taskPollMs } : {}),
        ...(opts.deletionTtlOverrideMs ? { deletionTtlOverrideMs: opts.deletionTtlOverrideMs } : {}),
      },
      reconciler: { netbox, starter: starterFor(netbox) },
    });
    await ensureReconcilerSchedule(temporal, { taskQueue: env.TEMPORAL_TASK_QUEUE, intervalS: env.RECONCILE_INTERVAL_S, lookbackHours: env.RECONCILE_LOOKBACK_H });
    workerRun = worker.run();
    stoppers.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun?.catch(() => {});
      await nativeConnection.close();
    });
  }

  let api: RunningServer | null = null;
  if (opts.role !== 'worker') {
    const hub = new ApplyEventHub();
    await hub.start(database);
    // The merge hook must answer NetBox within a few seconds: its confirming read of the branch is bounded tighter.
    const starter = starterFor(new NetboxClient({ ...netboxOptions, timeoutMs: Math.min(env.NETBOX_TIMEOUT_MS, HOOK_NETBOX_TIMEOUT_MS) }));
    const { app } = createApp({
      database, temporal, starter, hub, links: { uiUrl: env.TEMPORAL_UI_URL, namespace: env.TEMPORAL_NAMESPACE },
      webhookSecret: env.NETBOX_WEBHOOK_SECRET, approvalSecret: env.APPROVAL_SIGNING_SECRET,
      netbox: { baseUrl: env.NETBOX_URL ?? 'http://127.0.0.1:1', token: env.NETBOX_TOKEN ?? 'unset' },
    });
    api = await serveHttp(app, env.PORT, opts.hostname ?? '127.0.0.1');
    stoppers.push(async () => {
      hub.drain();
      await api?.close(env.API_SHUTDOWN_GRACE_S * 1000);
      await hub.close();
    });
  }

  return {
    database, temporal, api, apiUrl: api?.url ?? null,
    async stop() {
      // The API drains its requests while the worker lets its activities finish.
      await Promise.all(stoppers.map((s) => s()));
      await connection.close();
      await database.close();
    },
  };
}
