/**
 * Wire schemas for proxbox-api, as described in docs/contracts/proxbox-api.md.
 * Section numbers (§) refer to that document. Shared by the real client and the simulator,
 * so this module must stay free of Node built-ins and I/O.
 */
import { z } from 'zod';

export const PENDING_DELETION_TAG = 'proxbox-pending-deletion';

// ---------------------------------------------------------------------------------------------
// Scalars

const LAX_INT_STRING = /^\s*[+-]?\d+\s*$/;

function coerceLaxInt(v: unknown): unknown {
  return typeof v === 'string' && LAX_INT_STRING.test(v) ? Number(v.trim()) : v;
}

/**
 * An int field with Pydantic lax typing: numeric strings are accepted (proxbox-api.md §5.1). The input type
 * stays `number` because our client sends exact types.
 */
function laxInt() {
  return z.preprocess((v: number) => coerceLaxInt(v), z.int());
}

const Int = laxInt();
const OptionalInt = laxInt().nullish();
const OptionalString = z.string().nullish();

export const DiffOp = z.enum(['create', 'update', 'delete']);
export type DiffOp = z.infer<typeof DiffOp>;

export const GuestKind = z.enum(['qemu', 'lxc']);
export type GuestKind = z.infer<typeof GuestKind>;

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §5.6 Cloud-init

const DNS_SEARCH_DOMAIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Python's repr() of a string, as it appears in `ipaddress` error messages. */
export function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const escaped = s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
  return quote === "'" ? `'${escaped.replace(/'/g, "\\'")}'` : `"${escaped}"`;
}

const isIpLiteral = (s: string) => z.ipv4().safeParse(s).success || z.ipv6().safeParse(s).success;

export const CloudInitPayload = z.object({
  user: OptionalString,
  password: z.string().max(128).nullish(),
  ssh_keys: z.array(z.string()).nullish(),
  user_data: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish(),
  network: z.record(z.string(), z.unknown()).nullish(),
  search_domain: z.string().transform((value, ctx) => {
    const cleaned = value.trim().replace(/\.+$/, '');
    if (!cleaned) return null;
    if (!DNS_SEARCH_DOMAIN.test(cleaned)) {
      ctx.addIssue({ code: 'custom', message: 'search_domain must be a valid DNS search domain' });
      return z.NEVER;
    }
    return cleaned;
  }).nullish(),
  dns_servers: z.array(z.string()).transform((value, ctx) => {
    const seen = new Set<string>();
    for (const item of value) {
      const server = item.trim();
      if (!isIpLiteral(server)) {
        ctx.addIssue({ code: 'custom', message: `${pyRepr(server)} does not appear to be an IPv4 or IPv6 address` });
        return z.NEVER;
      }
      if (seen.has(server)) {
        ctx.addIssue({ code: 'custom', message: 'dns_servers must not contain duplicates' });
        return z.NEVER;
      }
      seen.add(server);
    }
    return [...seen];
  }).nullish(),
});
export type CloudInitPayload = z.infer<typeof CloudInitPayload>;

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §5.2–§5.4 Intent payloads

const ItemScalar = z.union([z.string(), z.number(), z.boolean()]);

/** A disk or NIC item (proxbox-api.md §5.4). Our client always sends `{key, value}`. */
export const IndexedItem = z.looseObject({
  key: z.union([z.string(), z.number()]).nullish(),
  name: z.union([z.string(), z.number()]).nullish(),
  slot: z.union([z.string(), z.number()]).nullish(),
  value: ItemScalar.nullish(),
  config: ItemScalar.nullish(),
});
export type IndexedItem = z.infer<typeof IndexedItem>;

// `tags` has no default: on update, a present `[]` clears tags while an absent key changes nothing (proxbox-api.md §5.5).
export const QemuIntentPayload = z.object({
  vmid: Int,
  node: z.string(),
  name: OptionalString,
  cores: OptionalInt,
  memory_mib: OptionalInt,
  storage: OptionalString,
  disks: z.array(IndexedItem).default([]),
  nics: z.array(IndexedItem).default([]),
  tags: z.array(z.string()).optional(),
  cloud_init: CloudInitPayload.nullish(),
  template_vmid: OptionalInt,
});
export type QemuIntentPayload = z.infer<typeof QemuIntentPayload>;

export const LxcIntentPayload = z.object({
  vmid: Int,
  node: z.string(),
  hostname: OptionalString,
  ostemplate: OptionalString,
  cores: OptionalInt,
  memory_mib: OptionalInt,
  storage: OptionalString,
  password: OptionalString,
  disks: z.array(IndexedItem).default([]),
  nics: z.array(IndexedItem).default([]),
  tags: z.array(z.string()).optional(),
  cloud_init: CloudInitPayload.nullish(),
});
export type LxcIntentPayload = z.infer<typeof LxcIntentPayload>;

/** Upstream firewall payload; our service does not send firewall diffs in v1. */
export const FirewallIntentPayload = z.object({
  action: z.string(),
  zone: OptionalString,
  node: OptionalString,
  vmid: OptionalInt,
  vm_type: GuestKind.nullish(),
  vnet: OptionalString,
  group: OptionalString,
  pos: OptionalInt,
  name: OptionalString,
  cidr: OptionalString,
  body: z.record(z.string(), z.unknown()).default({}),
  rollback: z.record(z.string(), z.unknown()).default({}),
});
export type FirewallIntentPayload = z.infer<typeof FirewallIntentPayload>;

/** Upstream model names, used in the union error for a payload that is not an object (proxbox-api.md §5.1). */
export const PAYLOAD_MODEL_NAMES = ['VMIntentPayload', 'LXCIntentPayload', 'FirewallIntentPayload'] as const;

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §5.1, §5.7 Apply

const diffBase = { op: DiffOp, netbox_id: OptionalInt };

export const ApplyDiff = z.discriminatedUnion('kind', [
  z.object({ ...diffBase, kind: z.literal('qemu'), payload: QemuIntentPayload }),
  z.object({ ...diffBase, kind: z.literal('lxc'), payload: LxcIntentPayload }),
  z.object({ ...diffBase, kind: z.literal('firewall'), payload: FirewallIntentPayload }),
]);
export type ApplyDiff = z.infer<typeof ApplyDiff>;
export const ApplyKind = z.enum(['qemu', 'lxc', 'firewall']);
export type ApplyKind = z.infer<typeof ApplyKind>;

export const ApplyRequest = z.object({
  run_uuid: z.string(),
  diffs: z.array(ApplyDiff),
  branch_id: OptionalInt,
  actor: OptionalString,
});
export type ApplyRequest = z.infer<typeof ApplyRequest>;

export const ApplyItemStatus = z.enum(['succeeded', 'failed', 'skipped', 'not_implemented']);
export type ApplyItemStatus = z.infer<typeof ApplyItemStatus>;

export const ApplyResultItem = z.object({
  netbox_id: z.int().nullable(),
  vmid: z.int(),
  op: z.string(),
  kind: z.string(),
  status: ApplyItemStatus,
  reason: z.string().nullable(),
  message: z.string(),
  proxmox_upid: z.string().nullable(),
});
export type ApplyResultItem = z.infer<typeof ApplyResultItem>;

export const ApplyOverall = z.enum(['succeeded', 'failed', 'partial', 'no_op']);
export type ApplyOverall = z.infer<typeof ApplyOverall>;

export const ApplyResponse = z.object({
  run_uuid: z.string(),
  overall: ApplyOverall,
  results: z.array(ApplyResultItem),
});
export type ApplyResponse = z.infer<typeof ApplyResponse>;

/** proxbox-api.md §5.7: the `overall` of an apply response from its item statuses. */
export function overallOf(statuses: readonly ApplyItemStatus[]): ApplyOverall {
  if (statuses.length === 0) return 'no_op';
  if (statuses.every((s) => s === 'succeeded' || s === 'skipped')) return 'succeeded';
  if (statuses.every((s) => s === 'failed')) return 'failed';
  return 'partial';
}

/** Fixed item messages of proxbox-api.md §5.5. */
export const APPLY_MESSAGES = {
  writesDisabled: 'writes_disabled_for_endpoint',
  qemuNameRequired: 'name required for QEMU create',
  lxcHostnameRequired: 'hostname required for LXC create',
  lxcOstemplateRequired: 'ostemplate required for LXC create',
  templateClone: 'template clone lands in Sub-PR K',
  deleteNotImplemented: 'DELETE goes through DeletionRequest (Sub-PRs H/I, #385/#386)',
  qemuSkipped: 'No QEMU update needed; current Proxmox config already matches payload',
  lxcSkipped: 'No LXC update needed; current Proxmox config already matches payload',
} as const;

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §4 Plan

export const PlanKind = z.enum(['virtualmachine', 'lxc', 'firewall']);
export type PlanKind = z.infer<typeof PlanKind>;

/** Unknown keys are kept: `type` and `action` drive the firewall rule of proxbox-api.md §4. */
export const PlanDiff = z.looseObject({
  op: DiffOp,
  kind: PlanKind,
  netbox_id: OptionalInt,
  name: OptionalString,
  proxmox_node: OptionalString,
  proxmox_storage: OptionalString,
  proxmox_iso: OptionalString,
  proxmox_template_vmid: OptionalInt,
  desired_vmid: OptionalInt,
});
export type PlanDiff = z.infer<typeof PlanDiff>;

export const PlanRequest = z.strictObject({
  endpoint_id: Int,
  branch_id: OptionalInt,
  actor: OptionalString,
  diffs: z.array(PlanDiff).default([]),
});
export type PlanRequest = z.infer<typeof PlanRequest>;

export const PlanVerdictValue = z.enum(['permitted', 'blocked', 'warning']);
export type PlanVerdictValue = z.infer<typeof PlanVerdictValue>;

export const PlanVerdict = z.strictObject({
  netbox_id: z.int().nullable(),
  op: DiffOp,
  verdict: PlanVerdictValue,
  reason: z.string().nullable(),
  message: z.string(),
});
export type PlanVerdict = z.infer<typeof PlanVerdict>;

export const PlanResponse = z.strictObject({
  permitted: z.boolean(),
  verdicts: z.array(PlanVerdict),
  summary: z.string(),
});
export type PlanResponse = z.infer<typeof PlanResponse>;

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §6 Deletion requests, proxbox-api.md §10 (a) registration

export const DeletionState = z.enum(['pending', 'approved', 'rejected', 'executing', 'succeeded', 'failed']);
export type DeletionState = z.infer<typeof DeletionState>;

export const DeletionTarget = z.object({ vmid: Int, node: z.string(), kind: GuestKind });
export type DeletionTarget = z.infer<typeof DeletionTarget>;

export const DeletionRejectBody = z.object({ reason: z.string() });
export type DeletionRejectBody = z.infer<typeof DeletionRejectBody>;

export const DeletionRecord = z.object({
  id: z.int(),
  endpoint_id: z.int(),
  vmid: z.int(),
  node: z.string(),
  kind: GuestKind,
  state: DeletionState,
  created_at: z.number(),
  updated_at: z.number(),
});
export type DeletionRecord = z.infer<typeof DeletionRecord>;

export const DeletionExecuteResponse = z.object({ upid: z.string().nullable(), run_uuid: z.string() });
export type DeletionExecuteResponse = z.infer<typeof DeletionExecuteResponse>;

export const RegisterDeletionRequest = z.object({
  vmid: Int,
  node: z.string(),
  kind: GuestKind,
  endpoint_id: Int,
  requested_by: z.string(),
  client_ref: z.string().max(200).nullish(),
});
export type RegisterDeletionRequest = z.infer<typeof RegisterDeletionRequest>;

export const RegisterDeletionResponse = DeletionRecord.extend({
  requested_by: z.string(),
  client_ref: z.string().nullable(),
});
export type RegisterDeletionResponse = z.infer<typeof RegisterDeletionResponse>;

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §7 Pending-deletion tags

export const TagRequest = z.object({ vmid: Int, node: z.string(), kind: GuestKind, tag: z.string() });
export type TagRequest = z.infer<typeof TagRequest>;

export const TagResponse = z.object({
  ok: z.literal(true),
  vmid: z.int(),
  node: z.string(),
  kind: GuestKind,
  tag: z.string(),
  tags_after: z.array(z.string()),
});
export type TagResponse = z.infer<typeof TagResponse>;

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §3, §8, §10 (b) reads

export const ProxmoxEndpointInfo = z.object({
  id: z.int(),
  name: z.string(),
  ip_address: z.string().nullable(),
  domain: z.string().nullable(),
  port: z.int(),
  username: z.string(),
  verify_ssl: z.boolean(),
  enabled: z.boolean(),
  allow_writes: z.boolean(),
  access_methods: z.unknown(),
  site_id: z.int().nullable(),
  site_slug: z.string().nullable(),
  site_name: z.string().nullable(),
  tenant_id: z.int().nullable(),
  tenant_slug: z.string().nullable(),
  tenant_name: z.string().nullable(),
  timeout: z.number().nullable(),
  max_retries: z.int().nullable(),
  retry_backoff: z.number().nullable(),
});
export type ProxmoxEndpointInfo = z.infer<typeof ProxmoxEndpointInfo>;

/** One item of proxbox-api.md §8.1 (and of the flat proxbox-api.md §8.3 list). Null and absent mean the same. */
export const ClusterResource = z.looseObject({
  id: z.string(),
  type: z.string(),
  vmid: z.int().nullish(),
  node: z.string().nullish(),
  name: z.string().nullish(),
  status: z.string().nullish(),
  lock: z.string().nullish(),
  tags: z.string().nullish(),
  template: z.union([z.boolean(), z.int()]).nullish(),
  storage: z.string().nullish(),
  content: z.string().nullish(),
  plugintype: z.string().nullish(),
});
export type ClusterResource = z.infer<typeof ClusterResource>;

export const ClusterResourcesResponse = z.array(z.record(z.string(), z.array(ClusterResource)));
export type ClusterResourcesResponse = z.infer<typeof ClusterResourcesResponse>;

/** proxbox-api.md §8.4 one volume of `GET /proxmox/nodes/{node}/storage/{storage}/content` (ostemplate and ISO checks). */
export const StorageContentItem = z.looseObject({
  volid: z.string(),
  content: z.string().nullish(),
  format: z.string().nullish(),
  size: z.number().nullish(),
});
export type StorageContentItem = z.infer<typeof StorageContentItem>;

const NumberOrString = z.union([z.number(), z.string()]);

/** proxbox-api.md §8.2 / §8.3 guest config; every Proxmox key passes through. */
export const GuestConfig = z.looseObject({
  name: z.string().nullish(),
  hostname: z.string().nullish(),
  cores: NumberOrString.nullish(),
  memory: NumberOrString.nullish(),
  tags: z.string().nullish(),
  digest: z.string().nullish(),
  lock: z.string().nullish(),
});
export type GuestConfig = z.infer<typeof GuestConfig>;

/** proxbox-api.md §8.3 `nodes/{node}/{qemu|lxc}/{vmid}/status/current` through the generated proxy; Proxmox keys pass through. */
export const GuestStatusCurrent = z.looseObject({
  vmid: z.union([z.int(), z.string()]).nullish(),
  status: z.string().nullish(),
  name: z.string().nullish(),
  lock: z.string().nullish(),
  tags: z.string().nullish(),
});
export type GuestStatusCurrent = z.infer<typeof GuestStatusCurrent>;

export const TaskStatus = z.looseObject({
  upid: z.string().nullish(),
  node: z.string().nullish(),
  status: z.enum(['running', 'stopped']),
  exitstatus: z.string().nullish(),
  type: z.string().nullish(),
  id: z.string().nullish(),
  pid: z.int().nullish(),
  pstart: z.int().nullish(),
  starttime: z.number().nullish(),
  user: z.string().nullish(),
});
export type TaskStatus = z.infer<typeof TaskStatus>;

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §10 capabilities

export interface CapabilityPath { method: 'get' | 'post' | 'put' | 'delete'; path: string }
export const CAPABILITY_REGISTER_DELETION = { method: 'post', path: '/intent/deletion-requests' } as const satisfies CapabilityPath;
export const CAPABILITY_TASK_STATUS = { method: 'get', path: '/intent/tasks/{node}/{upid}' } as const satisfies CapabilityPath;

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §2 Error envelopes

export const E1ErrorItem = z.looseObject({
  type: z.string(),
  loc: z.array(z.union([z.string(), z.int()])),
  msg: z.string(),
  input: z.unknown().optional(),
  ctx: z.record(z.string(), z.unknown()).optional(),
});
export type E1ErrorItem = z.infer<typeof E1ErrorItem>;

export const E1ValidationError = z.object({ detail: z.array(E1ErrorItem) });
export type E1ValidationError = z.infer<typeof E1ValidationError>;

export const E2Detail = z.object({ detail: z.string() });
export type E2Detail = z.infer<typeof E2Detail>;

export const E3Reason = z.looseObject({ reason: z.string(), detail: z.string() });
export type E3Reason = z.infer<typeof E3Reason>;

export const E4Message = z.object({
  message: z.string(),
  detail: z.union([z.string(), z.record(z.string(), z.unknown()), z.null()]).optional(),
  python_exception: z.string().nullish(),
});
export type E4Message = z.infer<typeof E4Message>;

export const E5_MESSAGE = 'Internal server error';

export type ClassifiedError =
  | { shape: 'E1'; status: number; errors: E1ErrorItem[] }
  | { shape: 'E2'; status: number; detail: string }
  | { shape: 'E3'; status: number; reason: string; detail?: string; body: Record<string, unknown> }
  | { shape: 'E4' | 'E5'; status: number; message: string; detail?: unknown }
  | { shape: 'unknown'; status: number };

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function toErrorItem(raw: unknown): E1ErrorItem {
  const parsed = E1ErrorItem.safeParse(raw);
  if (parsed.success) return parsed.data;
  const r = isRecord(raw) ? raw : {};
  return {
    type: typeof r.type === 'string' ? r.type : 'unknown',
    loc: Array.isArray(r.loc) ? r.loc.map((x) => (typeof x === 'number' ? x : String(x))) : [],
    msg: typeof r.msg === 'string' ? r.msg : JSON.stringify(raw) ?? '',
    input: r.input,
  };
}

/** proxbox-api.md §2: tells the five error body shapes apart, in the documented parsing order. */
export function classifyErrorBody(status: number, body: unknown): ClassifiedError {
  if (!isRecord(body)) return { shape: 'unknown', status };
  if (typeof body.reason === 'string') {
    return {
      shape: 'E3',
      status,
      reason: body.reason,
      ...(typeof body.detail === 'string' ? { detail: body.detail } : {}),
      body,
    };
  }
  if (Array.isArray(body.detail)) return { shape: 'E1', status, errors: body.detail.map(toErrorItem) };
  if ('message' in body) {
    const message = typeof body.message === 'string' ? body.message : String(body.message);
    const shape = status === 500 && message === E5_MESSAGE ? 'E5' : 'E4';
    return { shape, status, message, detail: body.detail };
  }
  if (typeof body.detail === 'string') return { shape: 'E2', status, detail: body.detail };
  return { shape: 'unknown', status };
}

// ---------------------------------------------------------------------------------------------
// proxbox-api.md §5.11 Secret scrubbing

export const SECRET_MASK = '***';
const SECRET_KEYS = new Set(['password', 'cipassword', 'secret', 'token']);
const KEY_VALUE_SECRET = /(password|secret|token)(["']?\s*[:=]\s*["']?)([^,"'\s}\]]+)/gi;
// A YAML `password:` line, as found in cloud-init user_data.
const PASSWORD_LINE = /^(\s*(?:-\s*)?["']?password["']?\s*:\s*)(\S[^\r\n]*)$/gim;

/** Every non-empty string stored under a secret key (case-insensitive), at any depth, plus `password:` lines in strings. */
export function collectSecretValues(value: unknown): string[] {
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) { v.forEach(walk); return; }
    if (isRecord(v)) {
      for (const [k, item] of Object.entries(v)) {
        if (SECRET_KEYS.has(k.toLowerCase()) && typeof item === 'string' && item) found.push(item);
        else walk(item);
      }
      return;
    }
    if (typeof v === 'string') {
      for (const m of v.matchAll(PASSWORD_LINE)) {
        const secret = (m[2] ?? '').trim().replace(/^["']+|["']+$/g, '');
        if (secret && secret !== SECRET_MASK) found.push(secret);
      }
    }
  };
  walk(value);
  return found;
}

/**
 * proxbox-api.md §5.11: masks `key: value` / `key=value` pairs for password, cipassword, secret and token
 * (quoted or not), the rest of `password:` lines, and every literal secret value.
 */
export function scrubSecrets(text: string, secretValues: readonly string[] = []): string {
  const values = [...new Set(secretValues.filter((s) => s && s !== SECRET_MASK))].sort((a, b) => b.length - a.length);
  let out = text;
  for (const secret of values) out = out.split(secret).join(SECRET_MASK);
  out = out.replace(KEY_VALUE_SECRET, (_m, key: string, sep: string) => `${key}${sep}${SECRET_MASK}`);
  return out.replace(PASSWORD_LINE, (_m, head: string) => `${head}${SECRET_MASK}`);
}
