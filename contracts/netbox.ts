/**
 * What proxbox-intent consumes from NetBox 4.4–4.6 and netbox-branching 1.1
 * (docs/contracts/netbox.md). REST objects are loose: real NetBox returns more keys than we model.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------------------------
// Time

const ISO_DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Parses an ISO 8601 datetime to epoch microseconds (truncated). Returns null when it is not one.
 * A value without a zone designator is only accepted with `assumeUtc` (NetBox query filters do that).
 */
export function parseIsoToEpochMicros(value: string, opts: { assumeUtc?: boolean; allowDateOnly?: boolean } = {}): number | null {
  const date = opts.allowDateOnly ? ISO_DATE.exec(value) : null;
  if (date) {
    const ms = Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    return validCalendar(ms, date, 0, 0, 0) ? ms * 1000 : null;
  }
  const m = ISO_DATETIME.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi, s = '0', frac = '', zone] = m;
  if (zone === undefined && !opts.assumeUtc) return null;
  const hour = Number(h), minute = Number(mi), second = Number(s);
  if (hour > 23 || minute > 59 || second > 59) return null;
  const baseMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), hour, minute, second);
  if (!validCalendar(baseMs, m, hour, minute, second)) return null;
  const micros = Number(frac.padEnd(6, '0').slice(0, 6));
  let offsetMinutes = 0;
  if (zone && zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2)), om = Number(digits.slice(2) || '0');
    if (oh > 23 || om > 59) return null;
    offsetMinutes = sign * (oh * 60 + om);
  }
  return (baseMs - offsetMinutes * 60_000) * 1000 + micros;
}

function validCalendar(ms: number, m: RegExpExecArray, h: number, mi: number, s: number): boolean {
  const dt = new Date(ms);
  return dt.getUTCFullYear() === Number(m[1]) && dt.getUTCMonth() === Number(m[2]) - 1 && dt.getUTCDate() === Number(m[3])
    && dt.getUTCHours() === h && dt.getUTCMinutes() === mi && dt.getUTCSeconds() === s;
}

/**
 * ISO 8601 (micro- or milliseconds, `Z` or an offset) to epoch milliseconds, truncated, as netbox.md §1 requires before any
 * comparison or id building. Throws on anything else, including a datetime without a zone.
 */
export function toEpochMs(iso: string): number {
  const micros = parseIsoToEpochMicros(iso);
  if (micros === null) throw new RangeError(`not an ISO 8601 datetime with a zone: ${JSON.stringify(iso)}`);
  return Math.floor(micros / 1000);
}

export const IsoDateTime = z.string().refine((v) => parseIsoToEpochMicros(v) !== null, { message: 'expected an ISO 8601 datetime with a zone' });

// ---------------------------------------------------------------------------------------------------------------
// Auth

/** netbox.md §1: v2 tokens (`nbt_…`) use `Bearer`, legacy v1 tokens use `Token`. */
export function netboxAuthHeader(secret: string): string {
  return secret.startsWith('nbt_') ? `Bearer ${secret}` : `Token ${secret}`;
}

/** 401/403/404 bodies: `{"detail": "..."}`. */
export const NetboxErrorDetail = z.looseObject({ detail: z.string() });
export type NetboxErrorDetail = z.infer<typeof NetboxErrorDetail>;

/** 400 for an invalid filter value: `{"<filter>": ["<error>"]}`. */
export const NetboxFilterError = z.record(z.string(), z.array(z.string()));
export type NetboxFilterError = z.infer<typeof NetboxFilterError>;

// ---------------------------------------------------------------------------------------------------------------
// Common REST shapes

export const ChoiceValue = z.looseObject({ value: z.string(), label: z.string() });
export type ChoiceValue = z.infer<typeof ChoiceValue>;

/** A choice object whose `value` is one of a closed set. */
export function choiceOf<T extends z.ZodType<string>>(value: T) {
  return z.looseObject({ value, label: z.string() });
}

export const NestedUser = z.looseObject({ id: z.number().int(), url: z.string(), display: z.string(), username: z.string() });
export type NestedUser = z.infer<typeof NestedUser>;

/** Any nested object reference (`{id, url, display, ...}`). */
export const NestedRef = z.looseObject({ id: z.number().int(), url: z.string(), display: z.string() });
export type NestedRef = z.infer<typeof NestedRef>;

export const NestedTag = z.looseObject({ id: z.number().int(), url: z.string(), display: z.string(), name: z.string(), slug: z.string() });
export type NestedTag = z.infer<typeof NestedTag>;

export function Paginated<T extends z.ZodType>(itemSchema: T) {
  return z.object({
    count: z.number().int().min(0),
    next: z.string().nullable(),
    previous: z.string().nullable(),
    results: z.array(itemSchema),
  });
}
export interface Paginated<T> { count: number; next: string | null; previous: string | null; results: T[] }

export const NetboxStatus = z.looseObject({
  'netbox-version': z.string(),
  plugins: z.record(z.string(), z.string()),
});
export type NetboxStatus = z.infer<typeof NetboxStatus>;

// ---------------------------------------------------------------------------------------------------------------
// Branches (netbox.md §2) and branch events (netbox.md §3)

export const BranchStatus = z.enum([
  'new', 'provisioning', 'ready', 'syncing', 'migrating', 'pending-migrations',
  'merging', 'reverting', 'merged', 'archived', 'failed',
]);
export type BranchStatus = z.infer<typeof BranchStatus>;

/** Only the exact value `true` opts in; absent and null both mean false (netbox.md §7.3). */
export const BranchCustomFields = z.looseObject({
  apply_to_proxmox: z.boolean().nullable().optional(),
  apply_destroy_confirmed: z.boolean().nullable().optional(),
});
export type BranchCustomFields = z.infer<typeof BranchCustomFields>;

export const Branch = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  name: z.string(),
  status: choiceOf(BranchStatus),
  owner: NestedUser.nullable(),
  description: z.string(),
  comments: z.string().optional(),
  schema_id: z.string(),
  last_sync: IsoDateTime.nullable(),
  merged_time: IsoDateTime.nullable(),
  merged_by: NestedUser.nullable(),
  tags: z.array(z.looseObject({})).optional(),
  custom_fields: BranchCustomFields,
  created: IsoDateTime,
  last_updated: IsoDateTime,
});
export type Branch = z.infer<typeof Branch>;

export const BranchSummary = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  name: z.string(),
  status: choiceOf(BranchStatus),
  description: z.string(),
});
export type BranchSummary = z.infer<typeof BranchSummary>;

export const BranchEventType = z.enum(['provisioned', 'synced', 'migrated', 'merged', 'reverted', 'archived']);
export type BranchEventType = z.infer<typeof BranchEventType>;

export const BranchEvent = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  time: IsoDateTime,
  branch: BranchSummary,
  user: NestedUser.nullable(),
  type: choiceOf(BranchEventType),
});
export type BranchEvent = z.infer<typeof BranchEvent>;

// ---------------------------------------------------------------------------------------------------------------
// Change-data representation (netbox.md §1, §7): FKs are pks, choices plain strings, decimals strings, tags names.

/** Decimal(6,2) as change data gives it, for example "2.00". */
export const DecimalString = z.string().regex(/^-?\d+(\.\d+)?$/, 'expected a decimal string');

const nullableInt = z.number().int().nullable().optional();
const nullableText = z.string().nullable().optional();

/** netbox.md §7.2. Every key may be missing or null; treat both alike. */
export const VmCustomFields = z.looseObject({
  proxmox_vm_id: nullableInt,
  proxmox_vm_type: nullableText,
  proxmox_node: nullableText,
  proxmox_storage: nullableText,
  proxmox_iso: nullableText,
  proxmox_template_vmid: nullableInt,
  proxmox_ostemplate: nullableText,
  proxmox_swap: nullableInt,
  proxmox_rootfs: nullableText,
  cloud_init_user: nullableText,
  cloud_init_ssh_keys: nullableText,
  cloud_init_user_data: nullableText,
  cloud_init_network: nullableText,
  proxbox_intent_state: nullableText,
  proxbox_last_apply_run_id: nullableText,
  proxmox_endpoint_id: nullableInt,
  /** The Proxmox bridge of the VM's NICs, unless an interface names its own (domain/nics.ts). */
  proxmox_bridge: nullableText,
});
export type VmCustomFields = z.infer<typeof VmCustomFields>;

export const VmChangeData = z.looseObject({
  name: z.string(),
  status: nullableText,
  cluster: nullableInt,
  site: nullableInt,
  tenant: nullableInt,
  platform: nullableInt,
  role: nullableInt,
  /** NetBox 4.6+. */
  virtual_machine_type: nullableInt,
  vcpus: DecimalString.nullable().optional(),
  memory: nullableInt,
  disk: nullableInt,
  primary_ip4: nullableInt,
  primary_ip6: nullableInt,
  description: z.string().optional(),
  custom_fields: VmCustomFields.optional(),
  tags: z.array(z.string()).optional(),
});
export type VmChangeData = z.infer<typeof VmChangeData>;

export const VirtualDiskChangeData = z.looseObject({
  virtual_machine: z.number().int(),
  name: z.string(),
  size: z.number().int().nullable(),
  description: z.string().optional(),
  custom_fields: z.record(z.string(), z.unknown()).optional(),
  tags: z.array(z.string()).optional(),
});
export type VirtualDiskChangeData = z.infer<typeof VirtualDiskChangeData>;

export const VmInterfaceChangeData = z.looseObject({
  virtual_machine: z.number().int(),
  name: z.string(),
  enabled: z.boolean().optional(),
  mtu: nullableInt,
  primary_mac_address: nullableInt,
  mode: nullableText,
  parent: nullableInt,
  /** The pk of another VMInterface, not a Proxmox bridge (netbox.md §7.1). */
  bridge: nullableInt,
  untagged_vlan: nullableInt,
  tagged_vlans: z.array(z.number().int()).optional(),
  vrf: nullableInt,
  description: z.string().optional(),
  custom_fields: z.record(z.string(), z.unknown()).optional(),
  tags: z.array(z.string()).optional(),
});
export type VmInterfaceChangeData = z.infer<typeof VmInterfaceChangeData>;

/** The branch in change-data representation plus `id`, as in the webhook `data` (netbox.md §5, §9.3). */
export const BranchChangeData = z.looseObject({
  id: z.number().int(),
  name: z.string(),
  owner: z.number().int().nullable().optional(),
  description: z.string().optional(),
  comments: z.string().optional(),
  schema_id: z.string(),
  status: z.string(),
  applied_migrations: z.array(z.unknown()).optional(),
  last_sync: IsoDateTime.nullable().optional(),
  merged_time: IsoDateTime.nullable(),
  merged_by: z.number().int().nullable().optional(),
  merge_strategy: z.string().nullable().optional(),
  created: IsoDateTime.optional(),
  last_updated: IsoDateTime.optional(),
  custom_fields: BranchCustomFields.optional(),
  tags: z.array(z.string()).optional(),
});
export type BranchChangeData = z.infer<typeof BranchChangeData>;

// ---------------------------------------------------------------------------------------------------------------
// ChangeDiffs (netbox.md §4)

export const ChangeAction = z.enum(['create', 'update', 'delete']);
export type ChangeAction = z.infer<typeof ChangeAction>;

export const ChangeData = z.record(z.string(), z.unknown());
export type ChangeData = z.infer<typeof ChangeData>;

export const ChangeDiff = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  branch: BranchSummary,
  object_type: z.string(),
  object_id: z.number().int(),
  /** Nested object, repr string or null; never depend on it (netbox.md §4). */
  object: z.unknown(),
  object_repr: z.string(),
  action: choiceOf(ChangeAction),
  conflicts: z.array(z.string()).nullable(),
  diff: z.looseObject({ original: ChangeData, modified: ChangeData, current: ChangeData }),
  original_data: ChangeData.nullable(),
  modified_data: ChangeData.nullable(),
  current_data: ChangeData.nullable(),
  last_updated: IsoDateTime,
});
export type ChangeDiff = z.infer<typeof ChangeDiff>;

export const OBJECT_TYPE = {
  virtualMachine: 'virtualization.virtualmachine',
  virtualDisk: 'virtualization.virtualdisk',
  vmInterface: 'virtualization.vminterface',
  branch: 'netbox_branching.branch',
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Core REST objects (minimal, loose)

const TimestampFields = { created: IsoDateTime.nullable().optional(), last_updated: IsoDateTime.nullable().optional() };

export const NestedVirtualMachine = z.looseObject({ id: z.number().int(), url: z.string(), display: z.string(), name: z.string() });
export type NestedVirtualMachine = z.infer<typeof NestedVirtualMachine>;

export const VirtualMachine = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  name: z.string(),
  status: ChoiceValue.nullable().optional(),
  cluster: NestedRef.nullable(),
  role: NestedRef.nullable().optional(),
  virtual_machine_type: NestedRef.nullable().optional(),
  /** A JSON number in REST, unlike change data. */
  vcpus: z.number().nullable(),
  memory: z.number().int().nullable(),
  disk: z.number().int().nullable(),
  custom_fields: VmCustomFields,
  tags: z.array(NestedTag),
  ...TimestampFields,
});
export type VirtualMachine = z.infer<typeof VirtualMachine>;

export const VirtualDisk = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  virtual_machine: NestedVirtualMachine,
  name: z.string(),
  size: z.number().int(),
  description: z.string().optional(),
  tags: z.array(NestedTag).optional(),
  custom_fields: z.record(z.string(), z.unknown()).optional(),
  ...TimestampFields,
});
export type VirtualDisk = z.infer<typeof VirtualDisk>;

/** NetBox 4.2+ `dcim.MACAddress` (netbox.md §7.1): an interface's `primary_mac_address` names one. */
export const MacAddress = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  mac_address: z.string(),
  assigned_object_type: z.string().nullable().optional(),
  assigned_object_id: z.number().int().nullable().optional(),
  description: z.string().optional(),
  ...TimestampFields,
});
export type MacAddress = z.infer<typeof MacAddress>;
/** The nested (brief) form inside an interface. */
export const NestedMacAddress = z.looseObject({ id: z.number().int(), url: z.string(), display: z.string(), mac_address: z.string() });

/** `ipam.VLAN`: an interface's `untagged_vlan` and `tagged_vlans` name them; Proxmox wants the `vid`. */
export const Vlan = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  vid: z.number().int(),
  name: z.string(),
  status: ChoiceValue.optional(),
  description: z.string().optional(),
  ...TimestampFields,
});
export type Vlan = z.infer<typeof Vlan>;
export const NestedVlan = z.looseObject({ id: z.number().int(), url: z.string(), display: z.string(), vid: z.number().int(), name: z.string() });

export const VmInterface = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  virtual_machine: NestedVirtualMachine,
  name: z.string(),
  enabled: z.boolean(),
  mtu: z.number().int().nullable().optional(),
  mode: ChoiceValue.nullable().optional(),
  /** NetBox 4.2+: the nested MACAddress; `mac_address` is its text, read-only. */
  primary_mac_address: NestedMacAddress.nullable().optional(),
  mac_address: z.string().nullable().optional(),
  untagged_vlan: NestedVlan.nullable().optional(),
  tagged_vlans: z.array(NestedVlan).optional(),
  bridge: NestedRef.nullable().optional(),
  description: z.string().optional(),
  tags: z.array(NestedTag).optional(),
  custom_fields: z.record(z.string(), z.unknown()).optional(),
  ...TimestampFields,
});
export type VmInterface = z.infer<typeof VmInterface>;

export const DeviceRole = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  name: z.string(),
  slug: z.string(),
  vm_role: z.boolean().optional(),
  description: z.string().optional(),
});
export type DeviceRole = z.infer<typeof DeviceRole>;

export const VirtualMachineType = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  name: z.string(),
  slug: z.string(),
  description: z.string().optional(),
});
export type VirtualMachineType = z.infer<typeof VirtualMachineType>;

export const Cluster = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  name: z.string(),
});
export type Cluster = z.infer<typeof Cluster>;

export const CustomField = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  name: z.string(),
  label: z.string().optional(),
  description: z.string().optional(),
  type: ChoiceValue,
  object_types: z.array(z.string()).optional(),
  required: z.boolean().optional(),
  ui_visible: ChoiceValue.optional(),
  ui_editable: ChoiceValue.optional(),
});
export type CustomField = z.infer<typeof CustomField>;

/** `GET /api/users/users/` (NetBox 4.x `UserSerializer`; `password` is write-only and never answered). */
export const NetboxUser = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  username: z.string(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  email: z.string().optional(),
  is_active: z.boolean(),
  date_joined: z.string().optional(),
  last_login: z.string().nullable().optional(),
});
export type NetboxUser = z.infer<typeof NetboxUser>;

// ---------------------------------------------------------------------------------------------------------------
// Journal entries (netbox.md §7.6)

export const JournalKind = z.enum(['info', 'success', 'warning', 'danger']);
export type JournalKind = z.infer<typeof JournalKind>;

/** `POST /api/extras/journal-entries/` body: comments are Markdown. */
export const JournalEntryCreate = z.object({
  assigned_object_type: z.string().min(1),
  assigned_object_id: z.number().int().positive(),
  kind: JournalKind.optional(),
  comments: z.string().min(1),
});
export type JournalEntryCreate = z.infer<typeof JournalEntryCreate>;

export const JournalEntry = z.looseObject({
  id: z.number().int(),
  url: z.string(),
  display: z.string(),
  assigned_object_type: z.string(),
  assigned_object_id: z.number().int(),
  created: IsoDateTime.nullable(),
  /** The pk of the user whose token wrote it. */
  created_by: z.number().int().nullable(),
  kind: choiceOf(JournalKind),
  comments: z.string(),
  last_updated: IsoDateTime.nullable().optional(),
});
export type JournalEntry = z.infer<typeof JournalEntry>;

// ---------------------------------------------------------------------------------------------------------------
// Webhooks (netbox.md §5, §9.3)

/**
 * Any NetBox event-rule webhook body. The receiver parses this first, then answers 202 "ignored" for events it does
 * not handle, rather than rejecting them as malformed.
 */
export const WebhookEnvelope = z.looseObject({
  event: z.string(),
  timestamp: z.string(),
  object_type: z.string().optional(),
  /** NetBox ≤ 4.4 only. Never require it. */
  model: z.string().optional(),
  username: z.string().nullable().optional(),
  request_id: z.string().nullable().optional(),
  data: z.unknown(),
});
export type WebhookEnvelope = z.infer<typeof WebhookEnvelope>;

export const BranchMergedWebhook = z.looseObject({
  event: z.literal('branch_merged'),
  timestamp: z.string(),
  object_type: z.literal(OBJECT_TYPE.branch),
  model: z.string().optional(),
  username: z.string().nullable(),
  request_id: z.string().nullable().optional(),
  data: BranchChangeData,
});
export type BranchMergedWebhook = z.infer<typeof BranchMergedWebhook>;
