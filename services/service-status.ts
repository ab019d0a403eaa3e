import type { Client } from '@temporalio/client';
import { NetboxClient } from '../clients/netbox';
import { proxboxClientFor } from '../clients/proxbox';
import type { UpstreamErrorObserver } from '../clients/errors';
import { describeTaskQueuePollers } from '../clients/temporal-task-queue';
import { UpstreamError } from '../clients/errors';
import type { EndpointStore, ProxmoxEndpointRow } from '../db/endpoints';
import type { QuotaStore } from '../db/quotas';
import type { SettingsStore } from '../db/settings';
import { runBounded } from '../domain/bounded';
import {
  POLLER_RECENT_WINDOW_MS, STATUS_CACHE_MS, STATUS_MAX_PROBED_ENDPOINTS, STATUS_PROBE_TIMEOUT_MS, STATUS_PROXBOX_CALLS_PER_MIN, endpointWritesPossible, redactSecrets,
  summarizePollers, summarizeStatus, taskQueueUrl, workerPolling, type EndpointStatus, type ServiceStatus, type ServiceStatusFacts,
} from '../domain/service-status';
import { SERVICE_VERSION } from '../domain/service-version';

export interface ServiceStatusDeps {
  temporal: Client;
  taskQueue: string;
  /** The Temporal Web UI's base URL (TEMPORAL_UI_URL). */
  temporalUiUrl: string;
  settings: SettingsStore;
  endpoints: EndpointStore;
  /** NetBox as configured (NETBOX_URL, NETBOX_TOKEN); null when either is missing. */
  netbox: { baseUrl: string; token: string; timeoutMs: number; fetch?: typeof fetch } | null;
  /** Counts the endpoint reads of every status answer of every process (STATUS_PROXBOX_CALLS_PER_MIN). */
  quotas: QuotaStore;
  probeTimeoutMs?: number;
  cacheMs?: number;
  now?: () => number;
  /** Told of every failed NetBox or proxbox-api probe (the process's metrics). */
  onUpstreamError?: UpstreamErrorObserver;
}

const STATUS_BUDGET_KEY = 'proxbox-api-calls:status';

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string; kind: string | null };

/**
 * The status answer (api.md "Status"): asks Temporal who polls the task queue, NetBox's `/api/status/`, proxbox-api's
 * `/openapi.json` (the capability discovery of clients/proxbox.ts) and each endpoint, all in parallel and each within
 * the probe deadline, so the answer arrives within about `probeTimeoutMs` whatever is down. Every failure becomes a
 * fact in the answer (fail closed: not reachable), never an exception. One answer is reused by this process for
 * `cacheMs` and concurrent callers share the one being gathered; nothing else is kept.
 */
export class ServiceStatusService {
  private readonly probeTimeoutMs: number;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private cached: { at: number; answer: Promise<ServiceStatus> } | null = null;

  constructor(private readonly deps: ServiceStatusDeps) {
    this.probeTimeoutMs = deps.probeTimeoutMs ?? STATUS_PROBE_TIMEOUT_MS;
    this.cacheMs = deps.cacheMs ?? STATUS_CACHE_MS;
    this.now = deps.now ?? Date.now;
  }

  status(): Promise<ServiceStatus> {
    const at = this.now();
    if (this.cached && at - this.cached.at < this.cacheMs) return this.cached.answer;
    const answer = this.gather();
    const entry = { at, answer };
    this.cached = entry;
    // A failure of our own (the database) is not kept: the next caller asks again.
    answer.catch(() => { if (this.cached === entry) this.cached = null; });
    return answer;
  }

  /** Whether a worker polls the task queue (null: Temporal did not answer); for `/readyz`, never cached. */
  async workerPolling(): Promise<boolean | null> {
    const pollers = await this.pollers();
    return pollers.ok ? workerPolling(pollers.value) : null;
  }

  private async gather(): Promise<ServiceStatus> {
    const checkedAt = this.now();
    const endpointRows = this.deps.endpoints.list();
    const [pollers, netbox, settings, endpoints, proxbox] = await Promise.all([
      this.pollers(), this.probeNetbox(), this.deps.settings.get(), endpointRows, endpointRows.then((rows) => this.probeBackend(rows)),
    ]);
    const { items } = proxbox;
    const { namespace } = this.deps.temporal.options;
    const facts: ServiceStatusFacts = {
      checkedAt: new Date(checkedAt).toISOString(),
      version: SERVICE_VERSION,
      temporal: {
        reachable: pollers.ok, namespace, taskQueue: this.deps.taskQueue, uiUrl: this.deps.temporalUiUrl,
        taskQueueUrl: taskQueueUrl(this.deps.temporalUiUrl, namespace, this.deps.taskQueue),
        workerPolling: pollers.ok && workerPolling(pollers.value), pollerWindowS: POLLER_RECENT_WINDOW_MS / 1000,
        pollers: pollers.ok ? pollers.value : null, error: pollers.ok ? null : pollers.error,
      },
      netbox,
      proxboxApi: proxbox.facts,
      intent: {
        masterFlag: settings.netboxToProxmoxEnabled, selfApproveAllowed: settings.selfApproveAllowed,
        deletionRequestTtlDays: settings.deletionRequestTtlDays,
      },
      endpoints: { count: endpoints.length, writable: items.filter((e) => e.writesPossible).length, probed: items.filter((e) => e.backend).length,
        unprobedReason: proxbox.unprobedReason, items },
    };
    return summarizeStatus(facts);
  }

  private async pollers() {
    const now = this.now();
    return this.attempt(async () => {
      const seen = await describeTaskQueuePollers(this.deps.temporal, this.deps.taskQueue, this.probeTimeoutMs);
      return { workflow: summarizePollers(seen.workflow, now), activity: summarizePollers(seen.activity, now) };
    }, []);
  }

  private async probeNetbox(): Promise<ServiceStatus['netbox']> {
    const config = this.deps.netbox;
    if (!config) return { configured: false, reachable: false, version: null, branchingInstalled: null, error: 'NETBOX_URL or NETBOX_TOKEN is not set' };
    const client = new NetboxClient({ ...config, timeoutMs: Math.min(config.timeoutMs, this.probeTimeoutMs), ...(this.deps.onUpstreamError ? { onError: this.deps.onUpstreamError } : {}) });
    const read = await this.attempt(() => client.status(), [config.token]);
    return read.ok
      ? { configured: true, reachable: true, version: read.value['netbox-version'], branchingInstalled: 'netbox_branching' in read.value.plugins, error: null }
      : { configured: true, reachable: false, version: null, branchingInstalled: null, error: read.error };
  }

  /** The backend's capabilities (proxbox-api.md §10 discovery) and each endpoint (proxbox-api.md §3), side by side. */
  private async probeBackend(rows: ProxmoxEndpointRow[]): Promise<{ facts: ServiceStatus['proxboxApi']; items: EndpointStatus[]; unprobedReason: string | null }> {
    const [described, backend] = await Promise.all([this.deps.endpoints.describeBackend(), this.deps.endpoints.getBackend()]);
    const endpointItems = (backends: Map<number, EndpointStatus['backend']>) => rows.map((r): EndpointStatus => {
      const seen = backends.get(r.backendEndpointId) ?? null;
      return {
        id: r.id, name: r.name, backendEndpointId: r.backendEndpointId, clusters: r.clusters, isDefault: r.isDefault, allowWrites: r.allowWrites,
        backend: seen, writesPossible: endpointWritesPossible(r.allowWrites, seen),
      };
    });
    if (!described || !backend) {
      const error = described ? described.urlRefusal ?? 'the stored URL is refused' : null;
      return {
        facts: { configured: false, reachable: false, timeoutMs: described?.timeoutMs ?? null, capabilities: null, error },
        items: endpointItems(new Map()), unprobedReason: rows.length ? 'proxbox-api is not configured' : null,
      };
    }
    const client = proxboxClientFor({ ...backend, timeoutMs: Math.min(backend.timeoutMs, this.probeTimeoutMs) }, this.deps.onUpstreamError);
    const backends = new Map<number, EndpointStatus['backend']>();
    let ids = [...new Set(rows.map((r) => r.backendEndpointId))].slice(0, STATUS_MAX_PROBED_ENDPOINTS);
    let unprobedReason: string | null = null;
    if (ids.length) {
      const taken = await this.deps.quotas.take(STATUS_BUDGET_KEY, { limit: STATUS_PROXBOX_CALLS_PER_MIN, ttlMs: 60_000 }, ids.length);
      if (!taken.ok) {
        unprobedReason = `the status answers' proxbox-api budget (${STATUS_PROXBOX_CALLS_PER_MIN} endpoint reads per minute) is spent; retry in ${taken.retryAfterS} s`;
        ids = [];
      }
    }
    const [caps] = await Promise.all([
      this.attempt(() => client.capabilities(), [backend.apiKey]),
      runBounded(ids, 8, async (id) => {
        const read = await this.attempt(() => client.endpoint(id), [backend.apiKey]);
        backends.set(id, read.ok ? { found: true, enabled: read.value.enabled, allowWrites: read.value.allow_writes, error: null }
          : read.kind === 'not_found' ? { found: false, enabled: null, allowWrites: null, error: null }
            : { found: false, enabled: null, allowWrites: null, error: read.error });
      }),
    ]);
    return {
      facts: { configured: true, reachable: caps.ok, timeoutMs: backend.timeoutMs, capabilities: caps.ok ? caps.value : null, error: caps.ok ? null : caps.error },
      items: endpointItems(backends), unprobedReason,
    };
  }

  /** Runs one probe, never longer than the deadline, and keeps a failure as a sentence without secrets. */
  private async attempt<T>(probe: () => Promise<T>, secrets: string[]): Promise<Outcome<T>> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Outcome<T>>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, error: `no answer within ${this.probeTimeoutMs} ms`, kind: 'timeout' }), this.probeTimeoutMs + 250);
    });
    const run = probe().then((value): Outcome<T> => ({ ok: true, value }),
      (err: unknown): Outcome<T> => ({
        ok: false, error: redactSecrets(err instanceof Error ? err.message : String(err), secrets), kind: err instanceof UpstreamError ? err.kind : null,
      }));
    try {
      return await Promise.race([run, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
