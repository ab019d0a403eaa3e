import type { Branch } from '../contracts/netbox';
import type { ClusterResource } from '../contracts/proxbox-api';
import { NetboxClient, type NetboxClientOptions } from '../clients/netbox';
import { proxboxClientFor, type ProxboxClient } from '../clients/proxbox';
import type { UpstreamErrorObserver } from '../clients/errors';
import { UpstreamError } from '../clients/errors';
import type { EndpointStore } from '../db/endpoints';
import type { QuotaStore } from '../db/quotas';
import type { SettingsStore } from '../db/settings';
import type { UserStore } from '../db/users';
import { planChanges } from '../domain/change-planner';
import {
  backendPlanRequest, branchingMissingValidation, decideMergeValidation, validateLocally, netboxUnavailableValidation, proxboxCallsOf, unreadEndpoint,
  type BranchFacts, type EndpointLive, type LocalValidation, type MergeValidation, type Read,
} from '../domain/merge-validation';
import { clusterIdsOf, clusterNamesFor, readBranchChanges } from '../clients/netbox-branch-changes';
import { routeEndpoint } from '../domain/routing';
import { refuse, type Refusal } from './refusal';

export interface MergeValidatorDeps {
  /** How to reach NetBox; the plan builds its own client so every request shares the plan's deadline. */
  netbox: Pick<NetboxClientOptions, 'baseUrl' | 'token'> & { fetch?: typeof fetch };
  settings: SettingsStore;
  endpoints: EndpointStore;
  users: UserStore;
  /** The whole plan's time budget; the NetBox shim waits 8 s, so the default leaves it room. */
  budgetMs?: number;
  /**
   * proxbox-api allows 300 requests per minute per client IP, shared by all our workers (proxbox-api.md §1.3): all plans
   * together may make at most `callsPerMinute` of them in any rolling minute, counted in PostgreSQL across processes.
   */
  proxboxBudget?: { quotas: QuotaStore; callsPerMinute: number };
  /** Each plan reads NetBox and proxbox-api: at most `perMinute` per user in any rolling minute (API and pages together). */
  perUser?: { quotas: QuotaStore; perMinute: number };
  /** Told of every failed NetBox or proxbox-api call (the process's metrics). */
  onUpstreamError?: UpstreamErrorObserver;
}

/** A user's plan (`planFor`): the plan, or why there is none. */
export type PlanAnswer = { ok: true; plan: MergeValidation }
  | Refusal<'branch_not_found'>
  | (Refusal<'rate_limited'> & { retryAfterS: number });

const PROXBOX_BUDGET_KEY = 'proxbox-api-calls:plan';

export const VALIDATION_BUDGET_MS = 4_500;

const branchFacts = (b: Branch): BranchFacts => ({
  id: b.id, schemaId: b.schema_id, name: b.name, status: b.status.value,
  optedIn: b.custom_fields.apply_to_proxmox === true, destroyConfirmed: b.custom_fields.apply_destroy_confirmed === true,
});

/** Wraps fetch so each request also aborts when the plan's deadline passes. */
function deadlineFetch(deadline: AbortSignal, base: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    const own = input instanceof Request ? input.signal : init?.signal;
    return base(input, { ...init, signal: own ? AbortSignal.any([own, deadline]) : deadline });
  };
}

/**
 * The read-only plan of a branch (the merge validator, api.md "Plan"): reads NetBox, our settings and endpoints, and
 * proxbox-api's read routes and `/intent/plan`, never anything that writes. Decisions live in `domain/merge-validation.ts`.
 * Answers within `budgetMs`: a slow or unreachable upstream makes the plan fail closed (`permitted: false`).
 */
export class MergeValidator {
  private readonly budgetMs: number;

  constructor(private readonly deps: MergeValidatorDeps) {
    this.budgetMs = deps.budgetMs ?? VALIDATION_BUDGET_MS;
  }

  /** The plan a user asked for (the API's plan routes and the plan page), within the per-user limit. */
  async planFor(username: string, branchId: number, actor: string | null): Promise<PlanAnswer> {
    const limit = this.deps.perUser;
    if (limit) {
      const taken = await limit.quotas.take(`plan:${username}`, { limit: limit.perMinute, ttlMs: 60_000 });
      if (!taken.ok) {
        return { ...refuse('rate_limited', `Too many plans: at most ${limit.perMinute} per minute per user. Try again in ${taken.retryAfterS} s.`), retryAfterS: taken.retryAfterS };
      }
    }
    const plan = await this.plan(branchId, actor);
    return plan ? { ok: true, plan } : refuse('branch_not_found', `NetBox has no branch ${branchId}.`);
  }

  /** The plan, or null when NetBox has no such branch. */
  async plan(branchId: number, actor: string | null): Promise<MergeValidation | null> {
    const deadline = AbortSignal.timeout(this.budgetMs);
    const settings = await this.deps.settings.get();
    let guard: NodeJS.Timeout | undefined;
    // Every upstream call honours the deadline; this guard also bounds anything that might not.
    const late = new Promise<MergeValidation>((resolve) => {
      guard = setTimeout(() => resolve(netboxUnavailableValidation(branchId, settings, null, actor, `the plan did not finish within ${this.seconds()}`)), this.budgetMs + 250);
    });
    try {
      return await Promise.race([this.compute(branchId, actor, settings, deadline), late]);
    } finally {
      clearTimeout(guard);
    }
  }

  private seconds(): string {
    return `${this.budgetMs / 1000} s`;
  }

  private async compute(branchId: number, actor: string | null, settings: Awaited<ReturnType<SettingsStore['get']>>,
    deadline: AbortSignal): Promise<MergeValidation | null> {
    const netbox = new NetboxClient({ ...this.deps.netbox, timeoutMs: this.budgetMs, fetch: deadlineFetch(deadline, this.deps.netbox.fetch), ...(this.deps.onUpstreamError ? { onError: this.deps.onUpstreamError } : {}) });
    const netboxDown = (err: unknown, branch: BranchFacts | null) => {
      if (!(err instanceof UpstreamError)) throw err;
      const detail = deadline.aborted ? `NetBox did not answer within ${this.seconds()}` : err.message;
      return netboxUnavailableValidation(branchId, settings, branch, actor, detail);
    };

    const [status, branchRead] = await Promise.allSettled([netbox.status(), netbox.branch(branchId)]);
    if (status.status === 'rejected') return netboxDown(status.reason, null);
    if (!('netbox_branching' in status.value.plugins)) return branchingMissingValidation(branchId, settings, actor);
    if (branchRead.status === 'rejected') {
      if (branchRead.reason instanceof UpstreamError && branchRead.reason.kind === 'not_found') return null;
      return netboxDown(branchRead.reason, null);
    }
    const branch = branchFacts(branchRead.value);

    const [endpoints, backend, permissions] = await Promise.all([
      this.deps.endpoints.list(), this.deps.endpoints.getBackend(),
      actor !== null ? this.deps.users.permissionsOf(actor) : Promise.resolve(null),
    ]);
    let local: LocalValidation;
    try {
      const read = await readBranchChanges(netbox, branchRead.value);
      const clusterNames = await clusterNamesFor(netbox, clusterIdsOf(read), endpoints);
      const endpointOf = (clusterId: number | null) => routeEndpoint(endpoints, { id: clusterId, name: clusterId !== null ? clusterNames.get(clusterId) ?? null : null });
      const changes = planChanges(read.vmDiffs, read.diskDiffs, read.nicDiffs, read.lookups, { warnPlaintextPassword: settings.warnPlaintextPassword, endpointOf });
      local = validateLocally({
        branch, settings, actor, actorPermissions: permissions, backendConfigured: Boolean(backend), endpoints, clusterNames, changes,
      });
    } catch (err) {
      return netboxDown(err, branch);
    }
    if (local.stop || local.backendReads.length === 0 || !backend) return decideMergeValidation(local, new Map());

    const budget = this.deps.proxboxBudget;
    if (budget) {
      const taken = await budget.quotas.take(PROXBOX_BUDGET_KEY, { limit: budget.callsPerMinute, ttlMs: 60_000 }, proxboxCallsOf(local));
      if (!taken.ok) {
        const why = `the plans' proxbox-api budget (${budget.callsPerMinute} calls per minute, shared by every plan) is spent; retry in ${taken.retryAfterS} s`;
        return decideMergeValidation(local, new Map(local.backendReads.map((r) => [r.backendEndpointId, unreadEndpoint(r, 'backend_budget', why)])));
      }
    }
    // The deadline bounds every call; the backend's own timeout still applies when it is shorter.
    const client = proxboxClientFor(backend, this.deps.onUpstreamError);
    const live = new Map<number, EndpointLive>();
    await Promise.all(local.backendReads.map(async (read) => {
      live.set(read.backendEndpointId, await this.readEndpoint(client, local, read, deadline));
    }));
    return decideMergeValidation(local, live);
  }

  /** Every proxbox-api read for one endpoint, in parallel; each failure is kept as a fact, never thrown. */
  private async readEndpoint(client: ProxboxClient, local: LocalValidation, read: LocalValidation['backendReads'][number], deadline: AbortSignal): Promise<EndpointLive> {
    const id = read.backendEndpointId;
    const attempt = async <T>(what: string, call: () => Promise<T>): Promise<Read<T>> => {
      try {
        return { ok: true, value: await call() };
      } catch (err) {
        if (deadline.aborted) return { ok: false, reason: 'backend_timeout', unavailable: true, message: `proxbox-api did not answer ${what} within ${this.seconds()}` };
        if (!(err instanceof UpstreamError)) throw err;
        const configuration = err.kind === 'not_found' || err.kind === 'rejected' || err.isConfiguration;
        return { ok: false, reason: configuration ? `backend_${err.kind}` : 'backend_unavailable', unavailable: !configuration, message: err.message };
      }
    };
    const resources = (type: 'vm' | 'node' | 'storage') =>
      attempt<ClusterResource[]>(`GET /proxmox/cluster/resources?type=${type}`, () => client.clusterResources(id, type, deadline));
    const [info, guests, nodes, storages, plan, templates] = await Promise.all([
      attempt(`GET /proxmox/endpoints/${id}`, async () => {
        const e = await client.endpoint(id, deadline);
        return { name: e.name, enabled: e.enabled, allowWrites: e.allow_writes };
      }),
      resources('vm'), resources('node'), resources('storage'),
      attempt('POST /intent/plan', async () => (await client.plan(backendPlanRequest(local, read), deadline)).verdicts),
      Promise.all(read.templates.map(async (t) => [`${t.node}/${t.storage}`,
        await attempt(`GET storage ${t.storage} content on ${t.node}`, async () => (await client.storageContent(id, t.node, t.storage, 'vztmpl', deadline)).map((v) => v.volid))] as const)),
    ]);
    const endpointInfo: EndpointLive['info'] = !info.ok && info.reason === 'backend_not_found'
      ? { ...info, reason: 'endpoint_not_found', message: `proxbox-api has no Proxmox endpoint ${id}` }
      : info;
    return { info: endpointInfo, guests, nodes, storages, plan, templates: new Map(templates) };
  }
}
