import { hostname } from 'node:os';
import type { BlankEnv } from 'hono/types';
import type { Client } from '@temporalio/client';
import type { Database } from '../db/client';
import { ApplyJobStore } from '../db/apply-jobs';
import { AuditLog } from '../db/audit-log';
import { DeletionRequestStore } from '../db/deletion-requests';
import { DeliveryStore } from '../db/deliveries';
import { NotificationDestinationStore } from '../db/notifications';
import { EndpointStore } from '../db/endpoints';
import { SettingsStore } from '../db/settings';
import { SessionStore } from '../db/sessions';
import { UserStore } from '../db/users';
import type { AesGcmPayloadCodec } from '../infra/payload-codec';
import type { BackendUrlPolicy } from '../domain/backend-url';
import type { SecretBox } from '../domain/secret-box';
import type { ApplyStarter } from '../services/apply-starter';
import { ApplyJobService } from '../services/apply-jobs';
import { DeletionDecisions } from '../services/deletion-decisions';
import { MergeValidator } from '../services/merge-validator';
import { ServiceStatusService } from '../services/service-status';
import { readiness } from '../domain/service-status';
import { authenticate } from './auth';
import { API_MAX_BODY_BYTES, jsonBodies, limitBody } from './body';
import type { ApplyEventHub } from './event-hub';
import { AUTHENTICATED, createRoute, docsPage, guarded, openApiDocument, problems, registerComponents, router } from './openapi';
import { onError, problem } from './problem';
import { applyJobRoutes } from './routes/apply-jobs';
import { codecRoutes } from './routes/codec';
import { auditLogRoutes } from './routes/audit-log';
import { deletionRequestRoutes } from './routes/deletion-requests';
import { backendRoutes, proxmoxEndpointRoutes } from './routes/endpoints';
import { hookRoutes } from './routes/hooks';
import { notificationDestinationRoutes } from './routes/notification-destinations';
import { planRoutes, planSummaryBrowserRedirect } from './routes/plan';
import { settingsRoutes } from './routes/settings';
import { statusRoutes } from './routes/status';
import { userRoutes } from './routes/users';
import type { TemporalLinks } from './views';
import { requestMetrics, webhookMetrics } from './metrics';
import { ProcessMetrics, metricsResponse, metricsSource, type MetricsSource } from '../infra/metrics';
import { clusterMetricsRegistry } from '../db/cluster-metrics';
import { traceRequests } from './tracing';
import { logger } from '../infra/logger';
import { QuotaStore } from '../db/quotas';
import { uiRoutes } from '../ui/app';
import { sessionCookieReader } from '../ui/session';
import { AuthFailureGuard, DEFAULT_LIMITS, SSE_LEASE_TTL_MS, type ApiLimits } from './rate-limits';

export interface AppDeps {
  database: Database;
  temporal: Client;
  starter: ApplyStarter;
  hub: ApplyEventHub;
  links: TemporalLinks;
  webhookSecret: string | undefined;
  approvalSecret: string;
  /** Seals the proxbox-api key at rest (SECRETS_ENCRYPTION_KEY). */
  secrets: SecretBox;
  /** Where the proxbox-api key may be sent (PROXBOX_API_ALLOW_HTTP, PROXBOX_API_ALLOWED_HOSTS). */
  backendUrlPolicy: BackendUrlPolicy;
  /** Notification destinations may use plain http (NOTIFICATIONS_ALLOW_HTTP). */
  notificationsAllowHttp?: boolean;
  /** NetBox as the plan reads it (it builds its own client with the plan's deadline). */
  netbox: { baseUrl: string; token: string };
  log?: (msg: string, err?: unknown) => void;
  /** The Temporal payload codec (null when payload encryption is off), served at /codec for the Temporal UI and CLI. */
  payloadCodec?: AesGcmPayloadCodec | null;
  /** Abuse limits; the defaults of DEFAULT_LIMITS where not given. */
  limits?: Partial<ApiLimits>;
  /** What `GET /api/v1/status` and `/readyz` look at besides the stores (api.md "Status"). */
  status: {
    taskQueue: string;
    /** NetBox as configured, null when NETBOX_URL or NETBOX_TOKEN is missing. */
    netbox: { baseUrl: string; token: string; timeoutMs: number } | null;
    /** READYZ_REQUIRE_WORKER: `/readyz` answers 503 while no worker polls the task queue. */
    readyzRequiresWorker: boolean;
  };
  /**
   * This process's metrics and what `GET /metrics` serves (runtime/system.ts wires one per process); by default the
   * API's own metrics and the cluster's. `token`: METRICS_TOKEN.
   */
  metrics?: { process: ProcessMetrics; source: MetricsSource; token?: string | undefined };
}

/** The routes of the app itself (operations and the API's own description). */
const opsRouteDefs = {
  me: createRoute({ method: 'get', path: '/me', summary: 'Who am I', ...guarded([]), responses: { 200: { description: 'The user and their permissions' }, ...problems(...AUTHENTICATED) } }),
  healthz: createRoute({ method: 'get', path: '/healthz', summary: 'Process alive', responses: { 200: { description: 'Alive' } } }),
  readyz: createRoute({
    method: 'get', path: '/readyz', summary: 'Database and Temporal reachable; whether a worker polls the task queue',
    responses: {
      200: { description: 'Ready (`worker` says whether a worker polls; it fails readiness only with READYZ_REQUIRE_WORKER=true)' },
      503: { description: 'The database or Temporal is unreachable, or no worker polls and READYZ_REQUIRE_WORKER=true' },
    },
  }),
  metrics: createRoute({
    method: 'get', path: '/metrics', summary: 'Prometheus metrics (this process and the whole service; docs/api.md "Metrics")',
    responses: {
      200: { description: 'Prometheus text format 0.0.4' },
      401: { description: 'METRICS_TOKEN is set and the request lacks `Authorization: Bearer <METRICS_TOKEN>`' },
    },
  }),
  openapi: createRoute({ method: 'get', path: '/openapi.json', summary: 'This document (OpenAPI 3.1)', responses: { 200: { description: 'OpenAPI 3.1' } } }),
  docs: createRoute({ method: 'get', path: '/docs', summary: 'The routes of this document as an HTML page', responses: { 200: { description: 'HTML' } } }),
};

/** Small routers composed into one app; authentication guards everything under /api/v1 except the signed webhook. */
export function createApp(deps: AppDeps) {
  const db = deps.database.db;
  const stores = {
    users: new UserStore(db), settings: new SettingsStore(db),
    endpoints: new EndpointStore(db, { secrets: deps.secrets, urlPolicy: deps.backendUrlPolicy }),
    jobs: new ApplyJobStore(db), deletions: new DeletionRequestStore(db), audit: new AuditLog(db), quotas: new QuotaStore(db),
    sessions: new SessionStore(db),
    deliveries: new DeliveryStore(db),
    destinations: new NotificationDestinationStore(db, { secrets: deps.secrets, allowHttp: deps.notificationsAllowHttp ?? false }),
  };
  const limits: ApiLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const authGuard = new AuthFailureGuard(stores.quotas, limits);
  const metrics = deps.metrics ?? defaultMetrics(deps.database);
  const onUpstreamError = metrics.process.upstreamError;
  const log = deps.log ?? ((msg: string, err?: unknown) => logger().error(err === undefined ? {} : { err }, msg));
  const jobService = new ApplyJobService({ audit: stores.audit, jobs: stores.jobs, deliveries: stores.deliveries, starter: deps.starter, temporal: deps.temporal, log });
  const status = new ServiceStatusService({
    onUpstreamError, temporal: deps.temporal, taskQueue: deps.status.taskQueue, temporalUiUrl: deps.links.uiUrl, settings: stores.settings, endpoints: stores.endpoints,
    quotas: stores.quotas, netbox: deps.status.netbox,
  });
  const validator = new MergeValidator({
    onUpstreamError,
    netbox: deps.netbox, settings: stores.settings, endpoints: stores.endpoints, users: stores.users,
    proxboxBudget: { quotas: stores.quotas, callsPerMinute: limits.planProxboxCallsPerMin },
    perUser: { quotas: stores.quotas, perMinute: limits.planRequestsPerUserPerMin },
  });
  const decisions = new DeletionDecisions({ deletions: stores.deletions, deliveries: stores.deliveries, settings: stores.settings, endpoints: stores.endpoints, temporal: deps.temporal, approvalSecret: deps.approvalSecret, onUpstreamError });

  const v1 = router();
  v1.use(authenticate(stores.users, authGuard, sessionCookieReader(stores.sessions)));
  v1.use(jsonBodies());
  v1.openapi(opsRouteDefs.me, (c) => c.json({ username: c.get('user').username, permissions: c.get('user').permissions }, 200));
  v1.route('/settings', settingsRoutes(stores.settings))
    .route('/backend', backendRoutes(stores.endpoints))
    .route('/proxmox-endpoints', proxmoxEndpointRoutes(stores.endpoints))
    .route('/users', userRoutes(stores.users))
    .route('/status', statusRoutes(status))
    .route('/audit-log', auditLogRoutes(stores.audit))
    .route('/notification-destinations', notificationDestinationRoutes({ destinations: stores.destinations, deliveries: stores.deliveries }))
    .route('/branches', planRoutes(validator))
    .route('/apply-jobs', applyJobRoutes({ jobs: stores.jobs, service: jobService, links: deps.links, hub: deps.hub,
      streams: { quotas: stores.quotas, rule: { limit: limits.sseStreamsPerUser, ttlMs: SSE_LEASE_TTL_MS } } }))
    .route('/deletion-requests', deletionRequestRoutes({ deletions: stores.deletions, decisions, links: deps.links }));

  const app = router<BlankEnv>();
  registerComponents(app);
  app.use(traceRequests());
  app.use(requestMetrics(metrics.process));
  app.use('/api/v1/hooks/*', webhookMetrics(metrics.process));
  // The signed webhook comes first: its own body limit, and its raw bytes untouched until the signature is checked.
  app.route('/api/v1/hooks', hookRoutes({ secret: deps.webhookSecret, jobs: jobService, links: deps.links, guard: authGuard }));
  app.use(limitBody(API_MAX_BODY_BYTES));
  app.openapi(opsRouteDefs.healthz, (c) => c.json({ status: 'ok' }, 200));
  app.openapi(opsRouteDefs.readyz, async (c) => {
    const [database, temporal, worker] = await Promise.allSettled([
      db.execute('select 1'),
      deps.temporal.connection.workflowService.getSystemInfo({}),
      status.workerPolling(),
    ]);
    const answer = readiness({
      database: database.status === 'fulfilled', temporal: temporal.status === 'fulfilled',
      workerPolling: worker.status === 'fulfilled' ? worker.value : null,
    }, deps.status.readyzRequiresWorker);
    return c.json(answer.body, answer.httpStatus);
  });
  app.openapi(opsRouteDefs.metrics, (c) => metricsResponse(metrics.source, metrics.token, c.req.header('authorization')) as never);
  app.get('/api/v1/branches/:branchId/plan-summary', planSummaryBrowserRedirect());
  app.route('/api/v1', v1);
  // The operator pages (ui/): server-rendered, same process, the same services and permission rules as the API.
  app.route('/ui', uiRoutes({
    users: stores.users, sessions: stores.sessions, jobs: stores.jobs, deletions: stores.deletions, jobService, decisions, validator, links: deps.links,
    authGuard, trustedProxies: limits.trustedProxies,
    admin: { settings: stores.settings, endpoints: stores.endpoints, audit: stores.audit, status, destinations: stores.destinations, deliveries: stores.deliveries },
  }));
  app.route('/codec', codecRoutes({
    codec: deps.payloadCodec ?? null, users: stores.users, authGuard, namespace: deps.links.namespace, uiOrigin: new URL(deps.links.uiUrl).origin,
  }));
  // Registered last, so the document holds every route above (and these two).
  app.openapi(opsRouteDefs.openapi, (c) => c.json(openApiDocument(app), 200));
  app.openapi(opsRouteDefs.docs, (c) => c.html(docsPage(openApiDocument(app))));
  app.notFound((c) => problem(c, 404, 'not_found', `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));
  app.onError(onError(log));
  return { app, stores, status };
}

/** An API process's metrics when the caller wires none: its own registry and the cluster's, open (no token). */
function defaultMetrics(database: Database): NonNullable<AppDeps['metrics']> {
  const process = new ProcessMetrics({ process: 'api', hostname: hostname(), pid: globalThis.process.pid }, { defaultMetrics: false });
  return { process, source: metricsSource({ process, cluster: clusterMetricsRegistry(database.db) }) };
}
