import { z } from 'zod';
import { MESSAGES } from './messages';

/**
 * The service's own answer to the operator guide's troubleshooting (api.md "Status"): is a worker polling the task
 * queue, do NetBox and proxbox-api answer, which optional proxbox-api capabilities exist, and the facts the guide's
 * "Common Errors" send an operator to check. The schema is defined here once; the route documents and validates it,
 * and anything else (a web page) may call the service that builds it.
 */

/**
 * A worker long-polls each task queue type and re-polls at once when a poll ends; Temporal's long poll lasts about
 * a minute, so an idle but healthy worker's last access can be a minute old. Two minutes tells a live worker from a
 * gone one without false alarms; Temporal itself forgets a poller after five.
 */
export const POLLER_RECENT_WINDOW_MS = 120_000;

/** How long the status answer may take at most: every upstream probe gets this deadline (and gives up at it). */
export const STATUS_PROBE_TIMEOUT_MS = 3_000;

/** How long one process reuses a status answer (it is a diagnosis; nothing decides on it). */
export const STATUS_CACHE_MS = 5_000;

/** At most this many Proxmox endpoints are probed at proxbox-api in one answer (each is one call). */
export const STATUS_MAX_PROBED_ENDPOINTS = 50;

/**
 * proxbox-api allows 300 calls per minute per client address (proxbox-api.md §1.3), and applies need them: all status
 * answers together, in every API process, read at most this many endpoints a minute (counted in PostgreSQL).
 */
export const STATUS_PROXBOX_CALLS_PER_MIN = 60;

export interface PollerSeen { identity: string; lastAccessMs: number | null }

/** A poller counts as polling when Temporal saw it within the window; one with no time at all does not. */
export function isPollerRecent(lastAccessMs: number | null, nowMs: number, windowMs = POLLER_RECENT_WINDOW_MS): boolean {
  if (lastAccessMs === null || !Number.isFinite(lastAccessMs)) return false;
  // A clock a little ahead of ours still means "just now".
  return nowMs - lastAccessMs <= windowMs;
}

const PollerSummary = z.object({
  recentPollers: z.number().int().describe('Pollers seen within the window'),
  lastAccessAt: z.string().nullable().describe('The latest poll Temporal remembers for this type (any poller), ISO time'),
  identities: z.array(z.string()).describe('Identities (pid@host) of the recent pollers, at most 10'),
});
export type PollerSummary = z.infer<typeof PollerSummary>;

export function summarizePollers(pollers: readonly PollerSeen[], nowMs: number, windowMs = POLLER_RECENT_WINDOW_MS): PollerSummary {
  const recent = pollers.filter((p) => isPollerRecent(p.lastAccessMs, nowMs, windowMs));
  const latest = Math.max(...pollers.map((p) => p.lastAccessMs ?? -Infinity));
  return {
    recentPollers: recent.length,
    lastAccessAt: Number.isFinite(latest) ? new Date(latest).toISOString() : null,
    identities: recent.map((p) => p.identity).slice(0, 10),
  };
}

/** A worker serves the queue only when it polls both: workflow tasks and activity tasks. */
export function workerPolling(pollers: { workflow: PollerSummary; activity: PollerSummary } | null): boolean {
  return Boolean(pollers && pollers.workflow.recentPollers > 0 && pollers.activity.recentPollers > 0);
}

export const Capabilities = z.object({
  registerDeletion: z.boolean().describe('POST /intent/deletion-requests (proxbox-api.md §10 a): without it approved deletions cannot be executed'),
  taskStatus: z.boolean().describe('GET /intent/tasks/{node}/{upid} (proxbox-api.md §10 b): without it tasks are followed through the cluster reads'),
  lxcConfigProxy: z.boolean().describe('The generated LXC config proxy (proxbox-api.md §8.3)'),
  guestStatusProxy: z.boolean().describe('The generated guest status proxies (proxbox-api.md §8.3)'),
});

const BackendEndpoint = z.object({
  found: z.boolean().describe('proxbox-api knows this endpoint id'),
  enabled: z.boolean().nullable(),
  allowWrites: z.boolean().nullable().describe("proxbox-api's own allow_writes"),
  error: z.string().nullable(),
});

const EndpointStatus = z.object({
  id: z.number().int(),
  name: z.string(),
  backendEndpointId: z.number().int(),
  clusters: z.array(z.string()),
  isDefault: z.boolean(),
  allowWrites: z.boolean().describe('Our allow_writes for this endpoint'),
  backend: BackendEndpoint.nullable().describe('What proxbox-api says about it (null: not asked, see proxboxApi)'),
  writesPossible: z.boolean().describe('Ours allows writes and proxbox-api says enabled && allow_writes'),
});
export type EndpointStatus = z.infer<typeof EndpointStatus>;

export const STATUS_PROBLEM_CODES = [
  'temporal_unreachable', 'no_worker_polling', 'netbox_not_configured', 'netbox_unreachable', 'netbox_branching_missing',
  'master_flag_disabled', 'backend_not_configured', 'backend_url_refused', 'proxbox_api_unreachable', 'no_endpoints',
  'writes_disabled_for_endpoint', 'capability_missing',
] as const;
export type StatusProblemCode = (typeof STATUS_PROBLEM_CODES)[number];

const StatusProblem = z.object({ code: z.enum(STATUS_PROBLEM_CODES), message: z.string() });
export type StatusProblem = z.infer<typeof StatusProblem>;

export const ServiceStatus = z.object({
  status: z.enum(['ok', 'degraded']).describe('`ok` when `problems` is empty'),
  checkedAt: z.string().describe('When these facts were gathered (answers are reused for a few seconds per process)'),
  version: z.string(),
  problems: z.array(StatusProblem).describe("What is wrong, each in the operator guide's words where it has some"),
  temporal: z.object({
    reachable: z.boolean(),
    namespace: z.string(),
    taskQueue: z.string(),
    uiUrl: z.string(),
    taskQueueUrl: z.string().describe('The task queue in the Temporal UI (its pollers)'),
    workerPolling: z.boolean().describe('A worker polled workflow and activity tasks of the queue within `pollerWindowS`'),
    pollerWindowS: z.number().int(),
    pollers: z.object({ workflow: PollerSummary, activity: PollerSummary }).nullable(),
    error: z.string().nullable(),
  }),
  netbox: z.object({
    configured: z.boolean(),
    reachable: z.boolean().describe('GET /api/status/ answered with our token'),
    version: z.string().nullable(),
    branchingInstalled: z.boolean().nullable(),
    error: z.string().nullable(),
  }),
  proxboxApi: z.object({
    configured: z.boolean().describe('A backend (the guide\'s FastAPIEndpoint) is set'),
    reachable: z.boolean().describe('GET /openapi.json answered'),
    timeoutMs: z.number().int().nullable(),
    capabilities: Capabilities.nullable(),
    error: z.string().nullable(),
  }),
  intent: z.object({
    masterFlag: z.boolean().describe('netboxToProxmoxEnabled'),
    selfApproveAllowed: z.boolean(),
    deletionRequestTtlDays: z.number().int(),
  }),
  endpoints: z.object({
    count: z.number().int(),
    writable: z.number().int().describe('Endpoints whose writes both sides allow'),
    probed: z.number().int().describe('Endpoints asked at proxbox-api (at most 50)'),
    unprobedReason: z.string().nullable().describe('Why proxbox-api was not asked about the endpoints (its budget is spent, it is not configured)'),
    items: z.array(EndpointStatus),
  }),
});
export type ServiceStatus = z.infer<typeof ServiceStatus>;
export type ServiceStatusFacts = Omit<ServiceStatus, 'status' | 'problems'>;

/** The task queue's page in the Temporal UI, where its pollers are listed. */
export function taskQueueUrl(uiUrl: string, namespace: string, taskQueue: string): string {
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/task-queues/${encodeURIComponent(taskQueue)}`;
}

/** Ours and proxbox-api's gates together (the same rule as the write gate: `enabled && allow_writes` upstream). */
export function endpointWritesPossible(allowWrites: boolean, backend: z.infer<typeof BackendEndpoint> | null): boolean {
  return allowWrites && Boolean(backend?.found && backend.enabled && backend.allowWrites);
}

/** Turns the gathered facts into the answer: every problem an on-call engineer should act on, in a stable order. */
export function summarizeStatus(facts: ServiceStatusFacts): ServiceStatus {
  const problems: StatusProblem[] = [];
  const add = (code: StatusProblemCode, message: string) => problems.push({ code, message });
  const t = facts.temporal;
  if (!t.reachable) {
    add('temporal_unreachable', `Temporal is unreachable (${t.error ?? 'no answer'}): jobs cannot start or run.`);
  } else if (!t.workerPolling) {
    const seen = t.pollers?.workflow.lastAccessAt ?? t.pollers?.activity.lastAccessAt;
    add('no_worker_polling', `Job stays queued: no worker has polled task queue "${t.taskQueue}" in namespace "${t.namespace}" `
      + `for both workflow and activity tasks within ${t.pollerWindowS} s (${seen ? `last poll ${seen}` : 'no poll remembered'}). `
      + 'Start a worker (npm run start:worker) with the same TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TEMPORAL_TASK_QUEUE.');
  }
  const nb = facts.netbox;
  if (!nb.configured) add('netbox_not_configured', 'NETBOX_URL and NETBOX_TOKEN are not both set: merges cannot be read.');
  else if (!nb.reachable) add('netbox_unreachable', `NetBox does not answer: ${nb.error ?? 'no answer'}.`);
  else if (nb.branchingInstalled === false) add('netbox_branching_missing', `${MESSAGES.branchingMissing}: install and enable it in NetBox.`);
  if (!facts.intent.masterFlag) {
    add('master_flag_disabled', `${MESSAGES.masterFlagDisabled}: turn netboxToProxmoxEnabled on with PUT /api/v1/settings and the typed phrase.`);
  }
  const pb = facts.proxboxApi;
  if (!pb.configured) {
    add(pb.error ? 'backend_url_refused' : 'backend_not_configured', pb.error
      ? `${MESSAGES.noBackend}: the stored proxbox-api URL is refused (${pb.error}); set it again with PUT /api/v1/backend.`
      : `${MESSAGES.noBackend}: set the proxbox-api backend with PUT /api/v1/backend.`);
  } else if (!pb.reachable) {
    add('proxbox_api_unreachable', `proxbox-api does not answer: ${pb.error ?? 'no answer'}.`);
  } else if (pb.capabilities && !pb.capabilities.registerDeletion) {
    add('capability_missing', 'proxbox-api does not offer POST /intent/deletion-requests: approved deletions fail with backend_cannot_register_deletion.');
  }
  if (facts.endpoints.count === 0) {
    add('no_endpoints', 'No Proxmox endpoint is configured: every VM is blocked (POST /api/v1/proxmox-endpoints).');
  }
  for (const e of facts.endpoints.items) {
    // With proxbox-api unreachable or unset, its own problem above says why; only our side is known.
    if (e.writesPossible || (e.allowWrites && (e.backend === null || !pb.reachable))) continue;
    const why = !e.allowWrites ? 'allowWrites is off here (PATCH /api/v1/proxmox-endpoints/{id})'
      : e.backend?.error ? `proxbox-api: ${e.backend.error}`
        : !e.backend?.found ? `proxbox-api has no endpoint ${e.backendEndpointId}`
          : `proxbox-api reports enabled=${String(e.backend.enabled)}, allow_writes=${String(e.backend.allowWrites)}`;
    add('writes_disabled_for_endpoint', `${MESSAGES.writesDisabled}: endpoint "${e.name}" (${e.clusters.join(', ') || 'no clusters'}): ${why}.`);
  }
  return { status: problems.length ? 'degraded' : 'ok', problems, ...facts };
}

/**
 * What `/readyz` answers. Readiness is this API process's: the database and Temporal. A missing worker is reported
 * but does not make the API unready unless asked (READYZ_REQUIRE_WORKER), because taking the API out of the load
 * balancer would only refuse webhooks and reads while every started job waits in Temporal for a worker anyway.
 */
export function readiness(checks: { database: boolean; temporal: boolean; workerPolling: boolean | null }, requireWorker: boolean) {
  const worker = checks.workerPolling === null ? 'unknown' : checks.workerPolling ? 'polling' : 'none';
  const ready = checks.database && checks.temporal && (!requireWorker || worker === 'polling');
  return {
    httpStatus: ready ? 200 as const : 503 as const,
    body: {
      status: ready ? 'ready' as const : 'not_ready' as const,
      database: checks.database ? 'ok' as const : 'unreachable' as const,
      temporal: checks.temporal ? 'ok' as const : 'unreachable' as const,
      worker,
      workerRequired: requireWorker,
    },
  };
}

/**
 * Upstream error sentences go into an answer: remove what could be a credential (a URL's user:password, the
 * token or key we sent, a query string) whatever the sentence's origin.
 */
export function redactSecrets(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1***@').replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s?#]*)\?[^\s#]*/gi, '$1?***');
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('***');
  return out.slice(0, 300);
}
