import ky, { type KyInstance } from 'ky';
import { z } from 'zod';
import {
  Branch, BranchEvent, ChangeDiff, Cluster, CustomField, DeviceRole, JournalEntry, MacAddress, NetboxFilterError, NetboxStatus,
  NetboxUser, OBJECT_TYPE, Paginated, VirtualMachine, VirtualMachineType, Vlan, VmInterface, netboxAuthHeader, type JournalEntryCreate,
} from '../contracts/netbox';
import { UpstreamError, observed, type UpstreamErrorObserver } from './errors';
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, callDeadline, formatBytes, readCapped, traceOutgoingCall, type CallDeadline } from './http';
import { neverLog } from '../infra/logger';

export interface NetboxClientOptions {
  baseUrl: string;
  token: string;
  /** The whole call, body included. */
  timeoutMs?: number;
  pageSize?: number;
  maxBodyBytes?: number;
  fetch?: typeof fetch;
  /** Told of every failed call (the process's metrics). */
  onError?: UpstreamErrorObserver;
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
  private readonly maxBodyBytes: number;
  private readonly baseUrl: string;
  private readonly onError: UpstreamErrorObserver | undefined;

  constructor(opts: NetboxClientOptions) {
    this.onError = opts.onError;
    this.pageSize = Math.max(1, Math.min(opts.pageSize ?? PAGE_MAX, PAGE_MAX));
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.baseUrl = opts.baseUrl;
    neverLog(opts.token);
    this.http = ky.create({
      prefixUrl: opts.baseUrl.replace(/\/+$/, ''),
      // One deadline for the whole call, body included (callDeadline), instead of ky's, which stops at the headers.
      timeout: false,
      throwHttpErrors: false,
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
    return this.all('api/plugins/branching/changes/', changeFilter(branchId, objectType), ChangeDiff);
  }

  /**
   * The same ChangeDiffs a page at a time (in id order; a diff a shifted page boundary brings back is not given
   * twice), so a large branch is never held whole.
   */
  changeDiffPages(branchId: number, objectType: string): AsyncGenerator<ChangeDiff[]> {
    return this.pages('api/plugins/branching/changes/', changeFilter(branchId, objectType), ChangeDiff);
  }

  /** Those of a branch's ChangeDiffs of one object type whose ids are given. */
  changeDiffsByIds(branchId: number, objectType: string, ids: readonly number[]): Promise<ChangeDiff[]> {
    return this.byIds('api/plugins/branching/changes/', 'id', ids, ChangeDiff, undefined, changeFilter(branchId, objectType));
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

  /** Custom field definitions, all pages, e.g. `{ name: ['proxmox_vm_id', 'proxmox_node'] }`. */
  customFields(filter: Record<string, string | string[]> = {}): Promise<CustomField[]> {
    return this.all('api/extras/custom-fields/', filter, CustomField);
  }

  /** Creates a custom field (needs `extras.add_customfield`); NetBox's 400 comes back as a `rejected` error naming the fields. */
  createCustomField(body: Record<string, unknown>): Promise<CustomField> {
    return this.call('POST', 'api/extras/custom-fields/', CustomField, body);
  }

  /** Every NetBox user (read-only; needs `users.view_user`). */
  users(): Promise<NetboxUser[]> {
    return this.all('api/users/users/', { ordering: 'id' }, NetboxUser);
  }

  /**
   * Objects by id, as main holds them, or as an unmerged branch does when `branchSchemaId` is given (`X-NetBox-Branch`,
   * netbox.md §1). One paginated list call per kind, whatever the number of ids.
   */
  virtualMachines(ids: readonly number[], branchSchemaId?: string): Promise<VirtualMachine[]> {
    return this.byIds('api/virtualization/virtual-machines/', 'id', ids, VirtualMachine, branchSchemaId);
  }

  /** Every interface of these VMs (`virtual_machine_id`, repeated). */
  vmInterfaces(vmIds: readonly number[], branchSchemaId?: string): Promise<VmInterface[]> {
    return this.byIds('api/virtualization/interfaces/', 'virtual_machine_id', vmIds, VmInterface, branchSchemaId);
  }

  macAddresses(ids: readonly number[], branchSchemaId?: string): Promise<MacAddress[]> {
    return this.byIds('api/dcim/mac-addresses/', 'id', ids, MacAddress, branchSchemaId);
  }

  vlans(ids: readonly number[], branchSchemaId?: string): Promise<Vlan[]> {
    return this.byIds('api/ipam/vlans/', 'id', ids, Vlan, branchSchemaId);
  }

  private async byIds<T extends { id: number }>(
    path: string, filter: string, ids: readonly number[], item: z.ZodType<T>, branchSchemaId?: string, also: Record<string, string> = {},
  ): Promise<T[]> {
    const unique = [...new Set(ids)].map(String);
    const headers = branchSchemaId ? { 'X-NetBox-Branch': branchSchemaId } : undefined;
    const out: T[] = [];
    // Chunks keep the query string short.
    for (let i = 0; i < unique.length; i += 100) out.push(...await this.all(path, { ...also, [filter]: unique.slice(i, i + 100) }, item, headers));
    return out;
  }

  /** Journal entries of one object, all pages (netbox.md §7.6). */
  journalEntries(objectType: string, objectId: number): Promise<JournalEntry[]> {
    return this.all('api/extras/journal-entries/', { assigned_object_type: objectType, assigned_object_id: String(objectId) }, JournalEntry);
  }

  /** Writes to main (no branch header). Not idempotent: a retry after a lost answer must look for the entry first. */
  createJournalEntry(entry: JournalEntryCreate, signal?: AbortSignal): Promise<JournalEntry> {
    return this.call('POST', 'api/extras/journal-entries/', JournalEntry, entry, { signal });
  }

  /** A partial update of a VM in main; a partial `custom_fields` object leaves the other custom fields as they are. */
  patchVirtualMachine(id: number, patch: Record<string, unknown>, signal?: AbortSignal): Promise<VirtualMachine> {
    return this.call('PATCH', `api/virtualization/virtual-machines/${id}/`, VirtualMachine, patch, { signal });
  }

  /**
   * Advances `offset` itself rather than following `next`, whose host may be wrong behind a proxy, and by the number
   * of results actually returned: NetBox caps `limit` at its MAX_PAGE_SIZE, which may be lower than ours.
   */
  private async all<T extends { id: number }>(path: string, filter: Record<string, string | string[]>, item: z.ZodType<T>, headers?: Record<string, string>): Promise<T[]> {
    const out: T[] = [];
    for await (const page of this.pages(path, filter, item, headers)) out.push(...page);
    return out;
  }

  /** The list a page at a time, as `all` reads it; an object given once is not given again. */
  private async *pages<T extends { id: number }>(path: string, filter: Record<string, string | string[]>, item: z.ZodType<T>, headers?: Record<string, string>): AsyncGenerator<T[]> {
    const seen = new Set<number>();
    const page = Paginated(item);
    for (let offset = 0; ;) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(filter)) for (const one of [v].flat()) params.append(k, one);
      params.set('limit', String(this.pageSize));
      params.set('offset', String(offset));
      const body = await this.get(`${path}?${params}`, page, headers);
      // Page boundaries shift while data changes; the same object may come twice.
      const fresh = body.results.filter((r) => !seen.has(r.id));
      for (const r of fresh) seen.add(r.id);
      if (fresh.length > 0) yield fresh;
      offset += body.results.length;
      if (body.results.length === 0 || body.next === null || offset >= body.count) break;
    }
  }

  private get<T>(path: string, schema: z.ZodType<T>, headers?: Record<string, string>): Promise<T> {
    return this.call('GET', path, schema, undefined, { headers });
  }

  private call<T>(
    method: 'GET' | 'POST' | 'PATCH', path: string, schema: z.ZodType<T>, body?: unknown,
    options: { headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<T> {
    return observed(this.onError, options.signal, () => this.attempt(method, path, schema, body, options));
  }

  private async attempt<T>(
    method: 'GET' | 'POST' | 'PATCH', path: string, schema: z.ZodType<T>, body: unknown,
    { headers, signal }: { headers?: Record<string, string>; signal?: AbortSignal },
  ): Promise<T> {
    return traceOutgoingCall({ system: 'netbox', baseUrl: this.baseUrl }, method, path, (traced) =>
      this.callOnce(method, path, schema, body, { headers: { ...headers, ...traced.headers }, ...(signal ? { signal } : {}) }, traced.answered));
  }

  private async callOnce<T>(
    method: 'GET' | 'POST' | 'PATCH', path: string, schema: z.ZodType<T>, body: unknown,
    { headers, signal }: { headers: Record<string, string>; signal?: AbortSignal }, answered: (status: number) => void,
  ): Promise<T> {
    const what = `${method} /${path.split('?')[0]}`;
    const deadline = callDeadline(this.timeoutMs, signal);
    let status: number;
    let text: string;
    let received: number | null = null;
    try {
      const res = await this.http(path, {
        method, signal: deadline.signal, ...(body === undefined ? {} : { json: body }), headers,
      });
      status = res.status;
      answered(status);
      received = 0;
      text = await readCapped(res, this.maxBodyBytes, deadline.signal, (n) => { received = n; });
    } catch (err) {
      throw transportError(err, what, this.timeoutMs, deadline, received);
    }
    if (status < 200 || status >= 300) throw httpError(status, text, what);
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

const changeFilter = (branchId: number, objectType: string) => ({ branch_id: String(branchId), object_type: objectType, ordering: 'id' });

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

function httpError(status: number, text: string, what: string): UpstreamError {
  let body: { detail?: unknown } | null = null;
  try { body = JSON.parse(text) as { detail?: unknown } | null; } catch { /* not JSON: no detail */ }
  const detail = typeof body?.detail === 'string' ? `: ${body.detail}` : fieldErrors(body);
  if (status === 401) return new UpstreamError('netbox', 'unauthorized', `NetBox rejected the token (401) on ${what}${detail}`, status);
  if (status === 403) return new UpstreamError('netbox', 'forbidden', `NetBox refused ${what} (403)${detail}`, status);
  if (status === 404) return new UpstreamError('netbox', 'not_found', `NetBox has no such object: ${what} answered 404`, status);
  if (status === 429) return new UpstreamError('netbox', 'throttled', `NetBox throttled ${what} (429)`, status);
  if (status >= 500) return new UpstreamError('netbox', 'server_error', `NetBox failed on ${what} (${status})`, status);
  return new UpstreamError('netbox', 'rejected', `NetBox answered ${status} to ${what}${detail}`, status);
}

/** A 400's errors keyed by field (netbox.md §1), as `: field: message; …`; empty for any other body. */
function fieldErrors(body: unknown): string {
  const parsed = NetboxFilterError.safeParse(body);
  if (!parsed.success) return '';
  const parts = Object.entries(parsed.data).slice(0, 4).map(([field, messages]) => `${field}: ${messages.join(' ')}`);
  return parts.length ? `: ${printable(parts.join('; '))}` : '';
}

/** A call that ended without a whole answer; `received` is null until the headers arrived, then the body's bytes so far. */
function transportError(err: unknown, what: string, timeoutMs: number, deadline: CallDeadline, received: number | null): UpstreamError {
  if (err instanceof BodyTooLargeError) {
    return new UpstreamError('netbox', 'too_large', `NetBox answered ${what} with more than ${formatBytes(err.limitBytes)}; the answer was not read`);
  }
  if (deadline.expired()) {
    return new UpstreamError('netbox', 'timeout', received === null
      ? `NetBox did not answer ${what} within ${timeoutMs} ms`
      : `NetBox did not finish its answer to ${what} within ${timeoutMs} ms (${formatBytes(received)} of the body received)`);
  }
  if (deadline.cancelled()) return new UpstreamError('netbox', 'unreachable', `${what} to NetBox was cancelled`);
  const cause = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
  return new UpstreamError('netbox', 'unreachable', `NetBox is unreachable (${what}): ${cause}`);
}
