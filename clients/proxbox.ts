import ky, { type KyInstance } from 'ky';
import { z } from 'zod';
import {
  ApplyResponse, CAPABILITY_REGISTER_DELETION, CAPABILITY_TASK_STATUS, ClusterResource, ClusterResourcesResponse,
  DeletionExecuteResponse, DeletionRecord, GuestConfig, GuestStatusCurrent, PlanResponse, ProxmoxEndpointInfo, RegisterDeletionResponse, StorageContentItem, TagResponse,
  TaskStatus, classifyErrorBody, type ApplyRequest, type ClassifiedError, type DeletionTarget, type PlanRequest,
  type RegisterDeletionRequest, type CapabilityPath,
} from '../contracts/proxbox-api';
import { UpstreamError, observed, type UpstreamErrorKind, type UpstreamErrorObserver } from './errors';
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, callDeadline, formatBytes, readCapped, traceOutgoingCall, type CallDeadline } from './http';
import { neverLog } from '../infra/logger';
import type { GuestKind } from '../domain/guest-kind';

export interface ProxboxClientOptions {
  baseUrl: string;
  apiKey: string;
  /** The whole call, body included. */
  timeoutMs?: number;
  maxBodyBytes?: number;
  fetch?: typeof fetch;
  /** Told of every failed call (the process's metrics). */
  onError?: UpstreamErrorObserver;
}

export const DEFAULT_PROXBOX_TIMEOUT_MS = 30_000;

/** A failed proxbox-api call, with the contract's error envelope and whether a write may have happened anyway. */
export class ProxboxError extends UpstreamError {
  constructor(kind: UpstreamErrorKind, message: string, readonly classified: ClassifiedError | null, status: number | null,
    readonly unknownOutcome: boolean, retryAfterS: number | null = null) {
    super('proxbox-api', kind, message, status, retryAfterS);
    this.name = 'ProxboxError';
  }
}

export interface Capabilities { registerDeletion: boolean; taskStatus: boolean; lxcConfigProxy: boolean; guestStatusProxy: boolean }

const LXC_CONFIG_PROXY = { method: 'get', path: '/proxmox/api2/latest/nodes/{node}/lxc/{vmid}/config' } as const;
const GUEST_STATUS_PROXY = (['qemu', 'lxc'] as const).map((t) => ({ method: 'get', path: `/proxmox/api2/latest/nodes/{node}/${t}/{vmid}/status/current` }) as const);

type ApplyBody = Omit<ApplyRequest, 'diffs'> & { diffs: unknown[] };

/**
 * proxbox-api over HTTP (docs/contracts/proxbox-api.md). One attempt per call: retries and their policy belong
 * to Temporal activities, which know whether a write's outcome is unknown.
 */
export class ProxboxClient {
  private readonly http: KyInstance;
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;

  constructor(private readonly opts: ProxboxClientOptions) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_PROXBOX_TIMEOUT_MS;
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    neverLog(opts.apiKey);
    this.http = ky.create({
      prefixUrl: opts.baseUrl.replace(/\/+$/, ''),
      // One deadline for the whole call, body included (callDeadline), instead of ky's, which stops at the headers.
      timeout: false,
      throwHttpErrors: false,
      retry: 0,
      // The key bypasses every gate in proxbox-api: a redirect is an error, never a second request carrying the key.
      redirect: 'manual',
      headers: { 'X-Proxbox-API-Key': opts.apiKey, Accept: 'application/json' },
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
  }

  plan(body: PlanRequest, signal?: AbortSignal): Promise<PlanResponse> {
    return this.call('post', 'intent/plan', { json: body, signal }, PlanResponse, false);
  }

  /** One diff per request (proxbox-api.md §5.10): per-VM outcomes stay isolated and an unknown outcome touches one VM. */
  apply(endpointId: number, body: ApplyBody, signal?: AbortSignal): Promise<ApplyResponse> {
    return this.call('post', `intent/apply?endpoint_id=${endpointId}`, { json: body, signal }, ApplyResponse, true);
  }

  endpoint(backendEndpointId: number, signal?: AbortSignal): Promise<ProxmoxEndpointInfo> {
    return this.call('get', `proxmox/endpoints/${backendEndpointId}`, { signal }, ProxmoxEndpointInfo, false);
  }

  /** proxbox-api.md §8.1: the guests (or nodes, storages) of the one cluster behind an endpoint; `[]` is a configuration error. */
  async clusterResources(backendEndpointId: number, type: 'vm' | 'node' | 'storage', signal?: AbortSignal): Promise<ClusterResource[]> {
    const clusters = await this.call('get', `proxmox/cluster/resources?type=${type}&endpoint_ids=${backendEndpointId}`, { signal }, ClusterResourcesResponse, false);
    if (clusters.length === 0) {
      throw new ProxboxError('rejected', `proxbox-api knows no enabled endpoint ${backendEndpointId} (cluster resources returned [])`, null, 200, false);
    }
    return clusters.flatMap((m) => Object.values(m).flat());
  }

  async findGuest(backendEndpointId: number, vmid: number, signal?: AbortSignal): Promise<ClusterResource | null> {
    const guests = await this.clusterResources(backendEndpointId, 'vm', signal);
    return guests.find((g) => g.vmid === vmid && (g.type === 'qemu' || g.type === 'lxc')) ?? null;
  }

  /** A guest's config: proxbox-api.md §8.2 for QEMU; proxbox-api.md §8.3's generated proxy for LXC, whose proxbox-api.md §8.2 answer can fail validation. */
  guestConfig(backendEndpointId: number, target: { node: string; kind: GuestKind; vmid: number; endpointName: string }, signal?: AbortSignal): Promise<GuestConfig> {
    const path = target.kind === 'qemu'
      ? `proxmox/${encodeURIComponent(target.node)}/qemu/${target.vmid}/config?endpoint_ids=${backendEndpointId}`
      : `proxmox/api2/latest/nodes/${encodeURIComponent(target.node)}/lxc/${target.vmid}/config?target_name=${encodeURIComponent(target.endpointName)}`;
    return this.call('get', path, { signal }, GuestConfig, false);
  }

  /** proxbox-api.md §8.4 the volumes of one storage on one node; 404 `Node or Storage not found` when either is unknown. */
  storageContent(backendEndpointId: number, node: string, storage: string, content: string, signal?: AbortSignal): Promise<StorageContentItem[]> {
    const path = `proxmox/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(storage)}/content?content=${encodeURIComponent(content)}&endpoint_ids=${backendEndpointId}`;
    return this.call('get', path, { signal }, z.array(StorageContentItem), false);
  }

  /**
   * One guest, read on the node where we expect it (proxbox-api.md §8.3): far cheaper than listing the whole cluster. Null when it is
   * not there; callers then fall back to proxbox-api.md §8.1 to learn whether it moved or is gone.
   */
  async guestOnNode(target: { node: string; kind: GuestKind; vmid: number; endpointName: string }, signal?: AbortSignal): Promise<ClusterResource | null> {
    const path = `proxmox/api2/latest/nodes/${encodeURIComponent(target.node)}/${target.kind}/${target.vmid}/status/current?target_name=${encodeURIComponent(target.endpointName)}`;
    try {
      const s = await this.call('get', path, { signal }, GuestStatusCurrent, false);
      return { id: `${target.kind}/${target.vmid}`, type: target.kind, vmid: target.vmid, node: target.node, name: s.name ?? null, status: s.status ?? null, lock: s.lock ?? null, tags: s.tags ?? null };
    } catch (err) {
      // The generated proxy answers a missing guest with a 400 E4, like any failed Proxmox call.
      if (err instanceof ProxboxError && err.status === 400) return null;
      throw err;
    }
  }

  tag(backendEndpointId: number, target: DeletionTarget, tag: string, actor: string, remove = false, signal?: AbortSignal): Promise<TagResponse> {
    const path = `intent/${remove ? 'untag' : 'tag'}-pending-deletion?endpoint_id=${backendEndpointId}`;
    return this.call('put', path, { json: { ...target, tag }, headers: { 'X-Proxbox-Actor': actor }, signal }, TagResponse, false);
  }

  registerDeletion(body: RegisterDeletionRequest, actor: string, signal?: AbortSignal): Promise<RegisterDeletionResponse> {
    return this.call('post', 'intent/deletion-requests', { json: body, headers: { 'X-Proxbox-Actor': actor }, signal }, RegisterDeletionResponse, true);
  }

  approveDeletion(recordId: number, target: DeletionTarget, actor: string, signal?: AbortSignal): Promise<DeletionRecord> {
    return this.call('post', `intent/deletion-requests/${recordId}/approve`, { json: target, headers: { 'X-Proxbox-Actor': actor }, signal }, DeletionRecord, true);
  }

  rejectDeletion(recordId: number, reason: string, actor: string, signal?: AbortSignal): Promise<DeletionRecord> {
    return this.call('post', `intent/deletion-requests/${recordId}/reject`, { json: { reason }, headers: { 'X-Proxbox-Actor': actor }, signal }, DeletionRecord, true);
  }

  executeDeletion(recordId: number, target: DeletionTarget, actor: string, signal?: AbortSignal): Promise<DeletionExecuteResponse> {
    return this.call('post', `intent/deletion-requests/${recordId}/execute`, { json: target, headers: { 'X-Proxbox-Actor': actor }, signal }, DeletionExecuteResponse, true);
  }

  taskStatus(backendEndpointId: number, node: string, upid: string, signal?: AbortSignal): Promise<TaskStatus> {
    return this.call('get', `intent/tasks/${encodeURIComponent(node)}/${encodeURIComponent(upid)}?endpoint_id=${backendEndpointId}`, { signal }, TaskStatus, false);
  }

  /** proxbox-api.md §10 discovery: a capability exists iff /openapi.json lists its path and method. Never probe by calling. */
  async capabilities(signal?: AbortSignal): Promise<Capabilities> {
    const doc = await this.call('get', 'openapi.json', { signal }, z.object({ paths: z.record(z.string(), z.record(z.string(), z.unknown())) }), false);
    const has = (c: CapabilityPath) => Boolean(doc.paths[c.path]?.[c.method]);
    return { registerDeletion: has(CAPABILITY_REGISTER_DELETION), taskStatus: has(CAPABILITY_TASK_STATUS), lxcConfigProxy: has(LXC_CONFIG_PROXY), guestStatusProxy: GUEST_STATUS_PROXY.every(has) };
  }

  private call<T>(method: 'get' | 'post' | 'put', path: string,
    options: { json?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined },
    schema: z.ZodType<T>, isWrite: boolean): Promise<T> {
    return observed(this.opts.onError, options.signal, () => this.attempt(method, path, options, schema, isWrite));
  }

  private async attempt<T>(method: 'get' | 'post' | 'put', path: string,
    options: { json?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined },
    schema: z.ZodType<T>, isWrite: boolean): Promise<T> {
    return traceOutgoingCall({ system: 'proxbox-api', baseUrl: this.opts.baseUrl }, method, path, (traced) =>
      this.callOnce(method, path, { ...options, headers: { ...options.headers, ...traced.headers } }, schema, isWrite, traced.answered));
  }

  private async callOnce<T>(method: 'get' | 'post' | 'put', path: string,
    options: { json?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined },
    schema: z.ZodType<T>, isWrite: boolean, answered: (status: number) => void): Promise<T> {
    const what = `${method.toUpperCase()} /${path.split('?')[0]}`;
    const deadline = callDeadline(this.timeoutMs, options.signal);
    let res: Response;
    let text: string;
    let received: number | null = null;
    try {
      res = await this.http(path, {
        method,
        ...(options.json !== undefined ? { json: options.json } : {}),
        ...(options.headers ? { headers: options.headers } : {}),
        signal: deadline.signal,
      });
      answered(res.status);
      received = 0;
      text = await readCapped(res, this.maxBodyBytes, deadline.signal, (n) => { received = n; });
    } catch (err) {
      throw transportError(err, what, isWrite, this.timeoutMs, deadline, received);
    }
    let json: unknown = null;
    let isJson = true;
    try { json = JSON.parse(text); } catch { isJson = false; }
    if (!res.ok) throw httpError(res, isJson ? json : null, what, isWrite);
    if (!isJson) {
      throw new ProxboxError('unexpected_body', `proxbox-api ${what} did not return JSON: ${text.replace(/\s+/g, ' ').slice(0, 120) || '(empty body)'}`, null, res.status, isWrite);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new ProxboxError('unexpected_body', `proxbox-api ${what} returned an unexpected body: ${z.prettifyError(parsed.error).slice(0, 400)}`, null, 200, isWrite);
    }
    return parsed.data;
  }
}

function httpError(res: Response, body: unknown, what: string, isWrite: boolean): ProxboxError {
  const status = res.status;
  const c = classifyErrorBody(status, body);
  const text = describe(c);
  const retryAfter = Number(res.headers.get('retry-after')) || null;
  if (status >= 300 && status < 400) {
    const location = res.headers.get('location');
    return new ProxboxError('rejected', `proxbox-api answered ${what} with a redirect (${status}${location ? ` to ${location.slice(0, 200)}` : ''}); `
      + 'redirects are never followed, so the API key goes nowhere else. Configure the final proxbox-api URL with PUT /api/v1/backend.', null, status, false);
  }
  if (status === 401) return new ProxboxError('unauthorized', `proxbox-api rejected the API key on ${what}: ${text}`, c, status, false);
  if (status === 429) {
    const lockout = /Too many failed authentication/i.test(text);
    return new ProxboxError(lockout ? 'unauthorized' : 'throttled', `proxbox-api ${lockout ? 'locked this client out' : 'rate-limited'} ${what}: ${text}`, c, status, false, retryAfter);
  }
  if (status >= 500) return new ProxboxError('server_error', `proxbox-api failed on ${what} (${status}): ${text}`, c, status, isWrite);
  if (status === 403) return new ProxboxError('forbidden', `proxbox-api refused ${what} (403): ${text}`, c, status, false);
  if (status === 404) return new ProxboxError('not_found', `proxbox-api ${what} answered 404: ${text}`, c, status, false);
  return new ProxboxError('rejected', `proxbox-api rejected ${what} (${status}): ${text}`, c, status, false);
}

/**
 * A call that ended without a whole answer; `received` is null until the headers arrived, then the body's bytes so
 * far. A write whose answer was lost (too large, too slow, cut) may have happened: its outcome is unknown.
 */
function transportError(err: unknown, what: string, isWrite: boolean, timeoutMs: number, deadline: CallDeadline, received: number | null): ProxboxError {
  if (err instanceof BodyTooLargeError) {
    return new ProxboxError('too_large', `proxbox-api answered ${what} with more than ${formatBytes(err.limitBytes)}; the answer was not read`, null, null, isWrite);
  }
  if (deadline.expired()) {
    return new ProxboxError('timeout', received === null
      ? `proxbox-api did not answer ${what} within ${timeoutMs} ms`
      : `proxbox-api did not finish its answer to ${what} within ${timeoutMs} ms (${formatBytes(received)} of the body received)`, null, null, isWrite);
  }
  if (deadline.cancelled()) return new ProxboxError('unreachable', `${what} was cancelled`, null, null, isWrite);
  const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return new ProxboxError('unreachable', `proxbox-api is unreachable (${what}): ${cause}`, null, null, isWrite);
}

function describe(c: ClassifiedError): string {
  const parts: string[] = [];
  if ('reason' in c && c.reason) parts.push(String(c.reason));
  if ('message' in c && c.message) parts.push(String(c.message));
  if ('detail' in c && typeof c.detail === 'string') parts.push(c.detail);
  if ('errors' in c && Array.isArray(c.errors)) parts.push(c.errors.map((e: { loc?: unknown[]; msg?: string }) => `${(e.loc ?? []).join('.')}: ${e.msg}`).join('; '));
  return parts.join(' — ') || `status ${c.status}`;
}

/** A configured proxbox-api backend (db/endpoints BackendConfig): where it is, its key, its per-call timeout. */
export interface ProxboxBackend { url: string; apiKey: string; timeoutMs: number }

const sharedClients = new Map<string, ProxboxClient>();
/** Clients are shared per configuration and per observer (each system in a process counts its own errors). */
const observerIds = new WeakMap<UpstreamErrorObserver, number>();
let observersSeen = 0;
const observerId = (o: UpstreamErrorObserver | undefined) => {
  if (!o) return 0;
  if (!observerIds.has(o)) observerIds.set(o, (observersSeen += 1));
  return observerIds.get(o)!;
};

/**
 * The one factory of proxbox-api clients (activities and the merge validator): the same configuration reuses one
 * client and its HTTP connections; a rotated key or a new URL makes a new one and the oldest go, so keys no longer
 * used are not kept for long.
 */
export function proxboxClientFor(backend: ProxboxBackend, onError?: UpstreamErrorObserver): ProxboxClient {
  const id = JSON.stringify([backend.url, backend.apiKey, backend.timeoutMs, observerId(onError)]);
  let client = sharedClients.get(id);
  if (!client) {
    if (sharedClients.size >= 8) sharedClients.delete(sharedClients.keys().next().value!);
    client = new ProxboxClient({ baseUrl: backend.url, apiKey: backend.apiKey, timeoutMs: backend.timeoutMs, ...(onError ? { onError } : {}) });
    sharedClients.set(id, client);
  }
  return client;
}

const CAPABILITY_TTL_MS = 10 * 60_000;
const capabilityCache = new Map<string, { at: number; caps: Capabilities }>();

/** proxbox-api.md §10 discovery, cached for at most ten minutes per backend URL; `fresh` re-checks (before a destroy). */
export async function capabilitiesOf(client: ProxboxClient, baseUrl: string, fresh = false, signal?: AbortSignal): Promise<Capabilities> {
  const hit = capabilityCache.get(baseUrl);
  if (!fresh && hit && Date.now() - hit.at < CAPABILITY_TTL_MS) return hit.caps;
  const caps = await client.capabilities(signal);
  capabilityCache.set(baseUrl, { at: Date.now(), caps });
  return caps;
}
