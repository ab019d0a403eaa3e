import ky, { HTTPError, TimeoutError, type KyInstance } from 'ky';
import { z } from 'zod';
import {
  Branch, BranchEvent, ChangeDiff, Cluster, DeviceRole, NetboxStatus, OBJECT_TYPE, Paginated, VirtualMachineType,
  netboxAuthHeader,
} from '../contracts/netbox';
import { UpstreamError } from './errors';

export interface NetboxClientOptions {
  baseUrl: string;
  token: string;
  timeoutMs?: number;
  pageSize?: number;
  fetch?: typeof fetch;
}

const PAGE_MAX = 1000;
export const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * Reads NetBox and netbox-branching. Retries belong to Temporal, so this client makes exactly one attempt
 * per call and turns every failure into an UpstreamError that says what failed.
 */
export class NetboxClient {
  private readonly http: KyInstance;
  private readonly pageSize: number;
  private readonly timeoutMs: number;

  constructor(opts: NetboxClientOptions) {
    this.pageSize = Math.max(1, Math.min(opts.pageSize ?? PAGE_MAX, PAGE_MAX));
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.http = ky.create({
      prefixUrl: opts.baseUrl.replace(/\/+$/, ''),
      timeout: this.timeoutMs,
      retry: 0,
      headers: { Authorization: netboxAuthHeader(opts.token), Accept: 'application/json' },
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
    });
  }

  status(): Promise<NetboxStatus> {
    return this.get('api/status/', NetboxStatus);
  }

  branch(id: number): Promise<Branch> {
    return this.get(`api/plugins/branching/branches/${id}/`, Branch);
  }

  branches(filter: Record<string, string | string[]>): Promise<Branch[]> {
    return this.all('api/plugins/branching/branches/', filter, Branch);
  }

  branchEvents(filter: Record<string, string | string[]>): Promise<BranchEvent[]> {
    return this.all('api/plugins/branching/branch-events/', filter, BranchEvent);
  }

  /** Every ChangeDiff of a branch for one object type, all pages, deduplicated by id. */
  changeDiffs(branchId: number, objectType: string = OBJECT_TYPE.virtualMachine): Promise<ChangeDiff[]> {
    return this.all('api/plugins/branching/changes/', { branch_id: String(branchId), object_type: objectType, ordering: 'id' }, ChangeDiff);
  }

  deviceRole(id: number): Promise<DeviceRole> {
    return this.get(`api/dcim/device-roles/${id}/`, DeviceRole);
  }

  virtualMachineType(id: number): Promise<VirtualMachineType> {
    return this.get(`api/virtualization/virtual-machine-types/${id}/`, VirtualMachineType);
  }

  cluster(id: number): Promise<Cluster> {
    return this.get(`api/virtualization/clusters/${id}/`, Cluster);
  }

  /**
   * Advances `offset` itself rather than following `next`, whose host may be wrong behind a proxy, and by the number
   * of results actually returned: NetBox caps `limit` at its MAX_PAGE_SIZE, which may be lower than ours.
   */
  private async all<T extends { id: number }>(path: string, filter: Record<string, string | string[]>, item: z.ZodType<T>): Promise<T[]> {
    const seen = new Map<number, T>();
    const page = Paginated(item);
    for (let offset = 0; ;) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(filter)) for (const one of [v].flat()) params.append(k, one);
      params.set('limit', String(this.pageSize));
      params.set('offset', String(offset));
      const body = await this.get(`${path}?${params}`, page);
      // Page boundaries shift while data changes; the same object may come twice.
      for (const r of body.results) seen.set(r.id, r);
      offset += body.results.length;
      if (body.results.length === 0 || body.next === null || offset >= body.count) break;
    }
    return [...seen.values()];
  }

  private async get<T>(path: string, schema: z.ZodType<T>): Promise<T> {
    const what = `GET /${path.split('?')[0]}`;
    let text: string;
    try {
      text = await this.http.get(path).text();
    } catch (err) {
      throw await toUpstreamError(err, what, this.timeoutMs);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UpstreamError('netbox', 'unexpected_body', `NetBox ${what} did not return JSON (is NETBOX_URL the NetBox root?): ${printable(text)}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new UpstreamError('netbox', 'unexpected_body', `NetBox ${what} returned an unexpected body: ${issueSummary(parsed.error)}`);
    }
    return parsed.data;
  }
}

/** The first few schema violations, by field path, for an error message. */
function issueSummary(error: z.ZodError): string {
  const lines = error.issues.slice(0, 6).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  const more = error.issues.length - lines.length;
  return lines.join('; ') + (more > 0 ? `; and ${more} more` : '');
}

/** The start of a body, on one line, for an error message. */
function printable(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat || '(empty body)';
}

async function toUpstreamError(err: unknown, what: string, timeoutMs: number): Promise<UpstreamError> {
  if (err instanceof HTTPError) {
    const status = err.response.status;
    const body = await err.response.clone().json().catch(() => null) as { detail?: unknown } | null;
    const detail = typeof body?.detail === 'string' ? `: ${body.detail}` : '';
    if (status === 401) return new UpstreamError('netbox', 'unauthorized', `NetBox rejected the token (401) on ${what}${detail}`, status);
    if (status === 403) return new UpstreamError('netbox', 'forbidden', `NetBox refused ${what} (403)${detail}`, status);
    if (status === 404) return new UpstreamError('netbox', 'not_found', `NetBox has no such object: ${what} answered 404`, status);
    if (status === 429) return new UpstreamError('netbox', 'throttled', `NetBox throttled ${what} (429)`, status);
    if (status >= 500) return new UpstreamError('netbox', 'server_error', `NetBox failed on ${what} (${status})`, status);
    return new UpstreamError('netbox', 'rejected', `NetBox answered ${status} to ${what}${detail}`, status);
  }
  if (err instanceof TimeoutError) return new UpstreamError('netbox', 'timeout', `NetBox did not answer ${what} within ${timeoutMs} ms`);
  const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return new UpstreamError('netbox', 'unreachable', `NetBox is unreachable (${what}): ${cause}`);
}
