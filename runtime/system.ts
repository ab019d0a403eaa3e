import { hostname } from 'node:os';
import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { DestinationStream } from 'pino';
import type { WorkflowBundle } from '@temporalio/worker';
import { createApp } from '../api/app';
import { ApplyEventHub } from '../api/event-hub';
import { NetboxClient } from '../clients/netbox';
import { backendUrlPolicy, ConfigError, type ServiceEnv } from '../config/env';
import { ApplyJobStore } from '../db/apply-jobs';
import { ApplyWorkItemStore } from '../db/apply-work-items';
import { openDatabase, type Database } from '../db/client';
import { DeletionRequestStore } from '../db/deletion-requests';
import { BackendSeedError, EndpointStore } from '../db/endpoints';
import { SettingsStore } from '../db/settings';
import { UserStore } from '../db/users';
import { SecretBox, SecretBoxError } from '../domain/secret-box';
import { ApplyStarter } from '../services/apply-starter';
import { ensureReconcilerSchedule } from '../services/reconciler-schedule';
import { closeOrphanedJobs } from '../services/orphaned-jobs';
import { DeliveryStarter } from '../services/delivery-starter';
import { DeliveryStore } from '../db/deliveries';
import { enqueueDeletionReminders, NotificationDestinationStore } from '../db/notifications';
import { serveHttp, type RunningServer } from '../infra/http-server';
import { ProcessMetrics, metricsSource, serveMetrics } from '../infra/metrics';
import { clusterMetricsRegistry } from '../db/cluster-metrics';
import { payloadCodecFromConfig, temporalDataConverter } from '../infra/payload-codec';
import { temporalConnectionOptions } from '../config/temporal-connection';
import { createIntentWorker, installWorkerRuntime } from './worker';
import { configureLogging, logger, neverLog } from '../infra/logger';
import { startTracing, tracesEndpointOf } from '../infra/tracing';

const HOOK_NETBOX_TIMEOUT_MS = 5_000;

export interface SystemOptions {
  env: ServiceEnv;
  role: 'api' | 'worker' | 'all';
  /** Used when DATABASE_URL is unset (the dev stack's embedded PGlite). */
  pgliteDir?: string;
  bundle?: WorkflowBundle;
  hostname?: string;
  /** Where the log lines go (default stdout); tests read them from a stream of their own. */
  logDestination?: DestinationStream;
}

export interface RunningSystem {
  database: Database;
  /** Seals secrets at rest (SECRETS_ENCRYPTION_KEY), for code that builds its own stores (the dev stack). */
  secrets: SecretBox;
  /** The backend and endpoints store with this system's key and URL policy (tests and benchmarks configure through it). */
  endpoints: EndpointStore;
  temporal: Client;
  api: RunningServer | null;
  apiUrl: string | null;
  /** This process's metrics; `workerUrl`: the worker's metrics listener (WORKER_METRICS_PORT), null when off. */
  metrics: { process: ProcessMetrics; workerUrl: string | null };
  /** How this process talks to Temporal: mutual TLS or not, and the id of the key that encrypts payloads (null: off). */
  temporalSecurity: { tls: boolean; clientCertificate: boolean; payloadKeyId: string | null };
  stop(): Promise<void>;
}

/** Wires the API and/or the worker from configuration; used by `npm start`, the dev stack and the e2e tests. */
export async function startSystem(opts: SystemOptions): Promise<RunningSystem> {
  const { env } = opts;
  const serviceName = opts.role === 'all' ? 'proxbox-intent' : `proxbox-intent-${opts.role}`;
  const log = configureLogging({ level: env.LOG_LEVEL, base: { service: serviceName }, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });
  neverLog(env.PROXBOX_API_KEY, env.NETBOX_TOKEN, env.NETBOX_WEBHOOK_SECRET, env.APPROVAL_SIGNING_SECRET, env.BOOTSTRAP_ADMIN_TOKEN,
    env.SECRETS_ENCRYPTION_KEY, env.SECRETS_ENCRYPTION_KEY_PREVIOUS, env.TEMPORAL_PAYLOAD_ENCRYPTION_KEY);
  if (!env.APPROVAL_SIGNING_SECRET) throw new Error('APPROVAL_SIGNING_SECRET is required');
  if (!env.SECRETS_ENCRYPTION_KEY) {
    throw new ConfigError('SECRETS_ENCRYPTION_KEY is required: it encrypts the proxbox-api key at rest (32 random bytes in base64: openssl rand -base64 32).');
  }
  const secrets = SecretBox.fromBase64(env.SECRETS_ENCRYPTION_KEY, env.SECRETS_ENCRYPTION_KEY_PREVIOUS);
  const urlPolicy = backendUrlPolicy(env);
  const leases = {
    ttlMs: env.WRITE_LEASE_TTL_S * 1000,
    onLost: (holder: string, keys: readonly string[]) => log.warn({ holder, keys }, 'a write lease lapsed and was taken over while its write ran'),
  };
  const database = await openDatabase({ ...(env.DATABASE_URL ? { url: env.DATABASE_URL } : {}), ...(opts.pgliteDir ? { pgliteDir: opts.pgliteDir } : {}), leases });
  const db = database.db;
  const users = new UserStore(db);
  const endpoints = new EndpointStore(db, { secrets, urlPolicy });
  try {
    // A key stored in plaintext (before encryption existed) or under the previous key is sealed with the current one.
    await endpoints.sealStoredSecrets();
    await new NotificationDestinationStore(db, { secrets, allowHttp: env.NOTIFICATIONS_ALLOW_HTTP }).sealStoredSecrets();
    await endpoints.seedFromEnvironment(env);
  } catch (err) {
    await database.close();
    if (err instanceof SecretBoxError || err instanceof BackendSeedError) throw new ConfigError(err.message);
    throw err;
  }
  const stored = await endpoints.describeBackend();
  if (stored?.urlRefusal) {
    log.warn(`the configured proxbox-api URL is refused (${stored.urlRefusal}); nothing is sent to it until it is set again with PUT /api/v1/backend.`);
  }
  if (env.BOOTSTRAP_ADMIN_TOKEN) await users.bootstrapAdmin(env.BOOTSTRAP_ADMIN_TOKEN);

  // Every Temporal client and worker of the process shares the connection settings (mTLS) and the payload codec.
  const temporalConnection = temporalConnectionOptions(env);
  const payloadCodec = payloadCodecFromConfig(env);
  const dataConverter = temporalDataConverter(payloadCodec);
  // Tracing is off (and the Temporal interceptors that carry a trace absent) unless an OTLP endpoint is configured.
  const tracing = await startTracing({ serviceName, endpoint: tracesEndpointOf(env) });
  const connection = await Connection.connect(temporalConnection);
  const temporal = new Client({
    connection, namespace: env.TEMPORAL_NAMESPACE, ...(dataConverter ? { dataConverter } : {}),
    // Starting a workflow is a span of the request (or sweep) that starts it, and the workflow's spans continue it.
    ...(tracing.enabled ? { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } } : {}),
  });
  // One registry per system (never prom-client's global one): the process's own metrics and the cluster's, from PG.
  const processMetrics = new ProcessMetrics({ process: opts.role, hostname: hostname(), pid: process.pid });
  const sdkMetricsAddress = opts.role !== 'api' ? env.TEMPORAL_METRICS_ADDRESS ?? null : null;
  const metrics = metricsSource({ process: processMetrics, cluster: clusterMetricsRegistry(db), sdkBindAddress: sdkMetricsAddress });
  let workerMetricsUrl: string | null = null;
  const netboxOptions = { baseUrl: env.NETBOX_URL ?? 'http://127.0.0.1:1', token: env.NETBOX_TOKEN ?? 'unset', pageSize: env.NETBOX_PAGE_SIZE, onError: processMetrics.upstreamError };
  const netbox = new NetboxClient({ ...netboxOptions, timeoutMs: env.NETBOX_TIMEOUT_MS });
  const starterFor = (client: NetboxClient) => new ApplyStarter({
    netbox: client, jobs: new ApplyJobStore(db), temporal, taskQueue: env.TEMPORAL_TASK_QUEUE, maxConcurrency: env.APPLY_MAX_CONCURRENCY,
    lookbackHours: env.RECONCILE_LOOKBACK_H,
  });
  const stoppers: (() => Promise<void>)[] = [];


  let workerRun: Promise<void> | null = null;
  if (opts.role !== 'api') {
    const deliveries = new DeliveryStore(db);
    const deliveryStarter = new DeliveryStarter({ temporal, taskQueue: env.TEMPORAL_TASK_QUEUE, deliveries, log: (m) => logger().warn(m) });
    installWorkerRuntime(env.LOG_LEVEL, { metricsAddress: env.TEMPORAL_METRICS_ADDRESS });
    const { worker, connection: nativeConnection } = await createIntentWorker({
      connection: temporalConnection, payloadCodec, namespace: env.TEMPORAL_NAMESPACE, taskQueue: env.TEMPORAL_TASK_QUEUE, ...(opts.bundle ? { bundle: opts.bundle } : {}),
      shutdownGraceMs: env.WORKER_SHUTDOWN_GRACE_S * 1000, tracing,
      deps: {
        jobs: new ApplyJobStore(db), workItems: new ApplyWorkItemStore(db, secrets), deletions: new DeletionRequestStore(db), settings: new SettingsStore(db), endpoints, users, netbox,
        approvalSecret: env.APPROVAL_SIGNING_SECRET, db, locks: database.locks, maxConcurrency: env.APPLY_MAX_CONCURRENCY, maxWritesPerNode: env.APPLY_MAX_PER_NODE, itemsPerRun: env.APPLY_ITEMS_PER_RUN, taskDeadlineMs: env.PROXMOX_TASK_DEADLINE_S * 1000, taskPollMs: env.PROXMOX_TASK_POLL_MS,
        metrics: processMetrics, onUpstreamError: processMetrics.upstreamError,
      },
      reconciler: {
        netbox, starter: starterFor(netbox),
        // A job younger than a few minutes may still be between its row and its workflow's first task.
        closeOrphanedJobs: () => closeOrphanedJobs(new ApplyJobStore(db), temporal, { olderThanMs: 2 * 60_000 }),
        startOverdueDeliveries: () => deliveryStarter.startOverdue(),
        enqueueDeletionReminders: () => enqueueDeletionReminders(db),
      },
      deliveries: {
        deliveries, netbox, links: { publicUrl: env.PUBLIC_URL ?? null },
        destinations: new NotificationDestinationStore(db, { secrets, allowHttp: env.NOTIFICATIONS_ALLOW_HTTP }),
      },
    });
    // Outbox rows committed by any process start their delivery at once; what was missed waits for the sweep.
    const unlisten = await deliveryStarter.listen(database);
    stoppers.push(unlisten);
    await deliveryStarter.startOverdue().catch(() => { /* the reconciler's sweep tries again */ });
    await ensureReconcilerSchedule(temporal, { taskQueue: env.TEMPORAL_TASK_QUEUE, intervalS: env.RECONCILE_INTERVAL_S, lookbackHours: env.RECONCILE_LOOKBACK_H });
    workerRun = worker.run();
    if (env.WORKER_METRICS_PORT !== undefined) {
      const listener = await serveMetrics(metrics, { port: env.WORKER_METRICS_PORT, hostname: opts.hostname ?? '127.0.0.1', token: env.METRICS_TOKEN });
      workerMetricsUrl = `${listener.url}/metrics`;
      stoppers.push(() => listener.close());
    }
    stoppers.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun?.catch(() => {});
      await nativeConnection.close();
    });
  }

  let api: RunningServer | null = null;
  if (opts.role !== 'worker') {
    const hubJobs = new ApplyJobStore(db);
    const hub = new ApplyEventHub((jobId, afterId) => hubJobs.eventsAfter(jobId, afterId));
    await hub.start(database);
    // The merge hook must answer NetBox within a few seconds: its confirming read of the branch is bounded tighter.
    const starter = starterFor(new NetboxClient({ ...netboxOptions, timeoutMs: Math.min(env.NETBOX_TIMEOUT_MS, HOOK_NETBOX_TIMEOUT_MS) }));
    const { app } = createApp({
      database, temporal, starter, hub, links: { uiUrl: env.TEMPORAL_UI_URL, namespace: env.TEMPORAL_NAMESPACE },
      webhookSecret: env.NETBOX_WEBHOOK_SECRET, approvalSecret: env.APPROVAL_SIGNING_SECRET, secrets, backendUrlPolicy: urlPolicy,
      notificationsAllowHttp: env.NOTIFICATIONS_ALLOW_HTTP,
      netbox: { baseUrl: env.NETBOX_URL ?? 'http://127.0.0.1:1', token: env.NETBOX_TOKEN ?? 'unset' },
      payloadCodec,
      metrics: { process: processMetrics, source: metrics, token: env.METRICS_TOKEN },
      status: {
        taskQueue: env.TEMPORAL_TASK_QUEUE, readyzRequiresWorker: env.READYZ_REQUIRE_WORKER,
        netbox: env.NETBOX_URL && env.NETBOX_TOKEN ? { baseUrl: env.NETBOX_URL, token: env.NETBOX_TOKEN, timeoutMs: env.NETBOX_TIMEOUT_MS } : null,
      },
      limits: {
        authFailuresPerIp: env.AUTH_FAILURES_PER_IP, authFailureWindowS: env.AUTH_FAILURE_WINDOW_S,
        planRequestsPerUserPerMin: env.PLAN_REQUESTS_PER_USER_PER_MIN, planProxboxCallsPerMin: env.PLAN_PROXBOX_CALLS_PER_MIN,
        sseStreamsPerUser: env.SSE_STREAMS_PER_USER,
        trustedProxies: (env.API_TRUSTED_PROXIES ?? '').split(',').map((a) => a.trim()).filter(Boolean),
      },
    });
    api = await serveHttp(app, env.PORT, opts.hostname ?? '127.0.0.1');
    stoppers.push(async () => {
      hub.drain();
      await api?.close(env.API_SHUTDOWN_GRACE_S * 1000);
      await hub.close();
    });
  }

  return {
    database, secrets, endpoints, temporal, api, apiUrl: api?.url ?? null,
    metrics: { process: processMetrics, workerUrl: workerMetricsUrl },
    temporalSecurity: {
      tls: Boolean(temporalConnection.tls), clientCertificate: Boolean(temporalConnection.tls?.clientCertPair), payloadKeyId: payloadCodec?.activeKeyId ?? null,
    },
    async stop() {
      // The API drains its requests while the worker lets its activities finish.
      await Promise.all(stoppers.map((s) => s()));
      await connection.close();
      await database.close();
      await tracing.shutdown();
    },
  };
}
