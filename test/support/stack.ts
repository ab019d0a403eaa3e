import { inject } from 'vitest';
import type { WorkflowBundle } from '@temporalio/worker';
import type { DestinationStream } from 'pino';
import { parseEnv, type ServiceEnv } from '../../config/env';
import { startSystem, type RunningSystem } from '../../runtime/system';
import { bundleWorkflows } from '../../runtime/worker';
import { UserStore } from '../../db/users';
import { SettingsStore } from '../../db/settings';
import { CONFIRMATION_PHRASE } from '../../domain/settings';
import { createNetboxSimulator, type NetboxSimulator, type NetboxVersion } from '../../simulators/netbox';
import { reconcilerScheduleId } from '../../services/reconciler-schedule';
import { createProxboxSimulator, type ProxboxSimulator } from '../../simulators/proxbox-api';
import { createFreshDatabase } from './database';

let bundlePromise: Promise<WorkflowBundle> | null = null;
/** Bundling the workflows takes seconds; do it once per test file. */
export function sharedBundle(): Promise<WorkflowBundle> {
  bundlePromise ??= bundleWorkflows();
  return bundlePromise;
}

export const WEBHOOK_SECRET = 'e2e-webhook-secret-0123456789';
export const PROXBOX_KEY = 'sim-proxbox-key';
export const NETBOX_TOKEN = 'nbt_simkey.simtoken';
/** SECRETS_ENCRYPTION_KEY of every test stack (32 bytes, base64). */
export const E2E_SECRETS_KEY = Buffer.alloc(32, 7).toString('base64');

export interface Stack {
  system: RunningSystem;
  /** Stops the API and worker (as a crash or a deploy would) and starts fresh ones on the same database and queue. */
  restart(): Promise<void>;
  api: string;
  /** This stack's own PostgreSQL database (for tests that read rows or run the CLI against it). */
  databaseUrl: string;
  /** This stack's Temporal task queue (the reconciler Schedule's id derives from it). */
  taskQueue: string;
  /** The service configuration of this stack, for workers started in processes of their own. */
  env: ServiceEnv;
  netbox: NetboxSimulator;
  proxbox: ProxboxSimulator;
  tokens: { admin: string; alice: string; bob: string; carol: string };
  /** JSON over real HTTP to our API with a user's token. */
  call(token: string, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

export interface StackOptions {
  capabilities?: { registerDeletion?: boolean; taskStatus?: boolean };
  taskDurationMs?: number;
  enableIntent?: boolean;
  allowWrites?: boolean;
  /** The NetBox version the simulator imitates (webhook body and VM data shapes); default 4.5. */
  netboxVersion?: NetboxVersion;
  /** NetBox's clock (epoch ms), for merges made in the past; it never runs backwards once it has been read. */
  netboxNow?: () => number;
  /** Extra service configuration, for example RECONCILE_INTERVAL_S or NETBOX_PAGE_SIZE. */
  env?: Record<string, string>;
  /** 'api': no worker in this process (a test starts workers as processes of their own). Default 'all'. */
  role?: 'all' | 'api';
  /** Where the system's log lines go (default stdout). */
  logDestination?: DestinationStream;
}

/**
 * The whole system on real infrastructure for one test file: a fresh PostgreSQL database, the shared Temporal dev
 * server with a task queue of its own, our API and worker, and both simulators on loopback ports.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const database = await createFreshDatabase('proxbox_e2e');
  const netbox = createNetboxSimulator({ demo: true, tokens: [NETBOX_TOKEN], ...(opts.netboxVersion ? { version: opts.netboxVersion } : {}),
    ...(opts.netboxNow ? { now: opts.netboxNow } : {}) });
  const proxbox = createProxboxSimulator({
    apiKeys: [PROXBOX_KEY],
    capabilities: opts.capabilities ?? { registerDeletion: true, taskStatus: true },
    taskDurationMs: opts.taskDurationMs ?? 50,
    rateLimitPerMinute: 100_000,
  });
  proxbox.cluster.seedDemoCluster();
  const nb = await netbox.listen(0);
  const pb = await proxbox.listen(0);
  const env = parseEnv({
    PORT: '0',
    DATABASE_URL: database.url,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    TEMPORAL_TASK_QUEUE: `e2e-${Math.random().toString(36).slice(2, 10)}`,
    TEMPORAL_UI_URL: 'http://127.0.0.1:8233',
    NETBOX_URL: nb.url,
    NETBOX_TOKEN,
    NETBOX_WEBHOOK_SECRET: WEBHOOK_SECRET,
    APPROVAL_SIGNING_SECRET: 'e2e-approval-signing-secret-0123',
    APPLY_MAX_CONCURRENCY: '4',
    // Simulated Proxmox tasks take milliseconds here: read them back often.
    PROXMOX_TASK_POLL_MS: '50',
    SECRETS_ENCRYPTION_KEY: E2E_SECRETS_KEY,
    // The simulators speak plain http on loopback.
    PROXBOX_API_ALLOW_HTTP: 'true',
    // The abuse limits are tested on their own (security.test.ts); elsewhere a file's many calls must not meet them.
    AUTH_FAILURES_PER_IP: '1000', PLAN_REQUESTS_PER_USER_PER_MIN: '1000', PLAN_PROXBOX_CALLS_PER_MIN: '100000',
    // restart() stands for a crash as much as a deploy: activities in flight are cancelled at once, as before the grace.
    WORKER_SHUTDOWN_GRACE_S: '0',
    // Each VM's outcome is an info line: tests that read the logs ask for them.
    LOG_LEVEL: 'warn',
    ...opts.env,
  });
  const boot = async () => startSystem({
    env: { ...env, PORT: apiPort }, role: opts.role ?? 'all', bundle: await sharedBundle(), ...(opts.logDestination ? { logDestination: opts.logDestination } : {}),
  });
  let apiPort = 0;
  let system = await boot();
  const api = system.apiUrl!;
  apiPort = system.api!.port;
  const db = system.database.db;
  const users = new UserStore(db);
  const intentRequester = ['intent_create_vm', 'intent_update_vm', 'intent_delete_vm', 'intent_create_lxc', 'intent_update_lxc', 'intent_delete_lxc', 'view'];
  await users.create('admin', ['view', 'trigger_apply', 'cancel_apply_job', 'manage_settings', 'manage_users']);
  await users.create('alice', [...intentRequester, 'authorize_deletion_request']);
  await users.create('bob', ['view', 'authorize_deletion_request']);
  await users.create('carol', ['view']);
  const tokens = {
    admin: (await users.createToken('admin'))!.token,
    alice: (await users.createToken('alice'))!.token,
    bob: (await users.createToken('bob'))!.token,
    carol: (await users.createToken('carol'))!.token,
  };
  if (opts.enableIntent !== false) {
    await new SettingsStore(db).update({ netboxToProxmoxEnabled: true, typedConfirmation: CONFIRMATION_PHRASE }, 'test');
  }
  const endpoints = system.endpoints;
  await endpoints.putBackend({ url: pb.url, apiKey: PROXBOX_KEY, timeoutMs: 10_000 });
  await endpoints.create({ name: 'lab', backendEndpointId: 1, allowWrites: opts.allowWrites ?? true, clusters: ['lab-cluster', '5'], isDefault: false });
  netbox.addWebhookTarget({ url: `${api}/api/v1/hooks/netbox`, secret: WEBHOOK_SECRET });

  return {
    get system() { return system; },
    async restart() {
      await system.stop();
      system = await boot();
    },
    api, databaseUrl: database.url, taskQueue: env.TEMPORAL_TASK_QUEUE, env, netbox, proxbox, tokens,
    async call(token, method, path, body, headers = {}) {
      const res = await fetch(`${api}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try { parsed = text ? JSON.parse(text) : null; } catch { /* keep text */ }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async stop() {
      // The Schedule outlives workers in production; a test's would keep firing at a queue nobody serves.
      await system.temporal.schedule.getHandle(reconcilerScheduleId(env.TEMPORAL_TASK_QUEUE)).delete().catch(() => {});
      await system.stop();
      await netbox.close();
      await pb.close();
      await database.drop();
    },
  };
}

export { eventually } from './eventually';
