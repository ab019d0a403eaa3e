/** REST representations (netbox.md §1): choice objects, nested references, microsecond datetimes, numeric decimals. */
import {
  OBJECT_KINDS, deepEqual, type BranchEventRecord, type BranchRecord, type CustomFieldRecord, type DeviceRoleRecord,
  type CustomFieldType, type DiffRecord, type MacAddressRecord, type NetboxModel, type RefKind, type RefRecord, type StoredObject,
  type UserRecord, type View, type VlanRecord,
} from './model';
import type { ChangeData } from '../../contracts/netbox';
import { restTime } from './time';

export const BRANCH_STATUS_LABELS: Record<string, string> = {
  new: 'New', provisioning: 'Provisioning', ready: 'Ready', syncing: 'Syncing', migrating: 'Migrating',
  'pending-migrations': 'Pending Migrations', merging: 'Merging', reverting: 'Reverting', merged: 'Merged',
  archived: 'Archived', failed: 'Failed',
};
export const EVENT_TYPE_LABELS: Record<string, string> = {
  provisioned: 'Provisioned', synced: 'Synced', migrated: 'Migrated', merged: 'Merged', reverted: 'Reverted', archived: 'Archived',
};
export const ACTION_LABELS: Record<string, string> = { create: 'Created', update: 'Updated', delete: 'Deleted' };
const VM_STATUS_LABELS: Record<string, string> = {
  offline: 'Offline', active: 'Active', planned: 'Planned', staged: 'Staged', failed: 'Failed',
  decommissioning: 'Decommissioning', paused: 'Paused',
};
const START_ON_BOOT_LABELS: Record<string, string> = { on: 'On', off: 'Off', laststate: 'Last State' };
const MODE_LABELS: Record<string, string> = { access: 'Access', tagged: 'Tagged', 'tagged-all': 'Tagged (All)', 'q-in-q': 'Q-in-Q (802.1ad)' };
/** extras/choices.py CustomFieldTypeChoices, and CustomFieldSerializer.get_data_type. */
const CF_TYPE_LABELS: Record<CustomFieldType, string> = {
  text: 'Text', longtext: 'Text (long)', integer: 'Integer', decimal: 'Decimal', boolean: 'Boolean (true/false)', date: 'Date',
  datetime: 'Date & time', url: 'URL', json: 'JSON', select: 'Selection', multiselect: 'Multiple selection', object: 'Object',
  multiobject: 'Multiple objects',
};
const CF_DATA_TYPES: Record<CustomFieldType, string> = {
  text: 'string', longtext: 'string', integer: 'integer', decimal: 'decimal', boolean: 'boolean', date: 'string', datetime: 'string',
  url: 'string', json: 'object', select: 'string', multiselect: 'array', object: 'object', multiobject: 'array',
};
const UI_VISIBLE_LABELS: Record<string, string> = { always: 'Always', 'if-set': 'If set', hidden: 'Hidden' };
const UI_EDITABLE_LABELS: Record<string, string> = { yes: 'Yes', no: 'No', hidden: 'Hidden' };
const REF_PATHS: Record<RefKind, string> = { site: 'dcim/sites', tenant: 'tenancy/tenants', platform: 'dcim/platforms', ipaddress: 'ipam/ip-addresses' };

function choice(value: unknown, labels: Record<string, string>): { value: string; label: string } | null {
  if (value === null || value === undefined || value === '') return null;
  const v = String(value);
  return { value: v, label: labels[v] ?? v };
}

const time = (us: number | null) => (us === null ? null : restTime(us));

export class RestRenderer {
  constructor(private readonly model: NetboxModel, readonly base: string) {}

  url(path: string, id?: number): string {
    return `${this.base}/api/${path}/${id === undefined ? '' : `${id}/`}`;
  }

  user(u: UserRecord | undefined | null): Record<string, unknown> | null {
    if (!u) return null;
    // UserSerializer.get_display: "username (First Last)" when the user has a name.
    const fullName = `${u.firstName} ${u.lastName}`.trim();
    return { id: u.id, url: this.url('users/users', u.id), display: fullName ? `${u.username} (${fullName})` : u.username, username: u.username };
  }

  /** NetBox 4.x UserSerializer: `password` is write-only; there is no is_staff. */
  userDetail(u: UserRecord): Record<string, unknown> {
    const { id, url, display, username } = this.user(u)!;
    return {
      id, url, display_url: `${this.base}/users/users/${u.id}/`, display, username, first_name: u.firstName, last_name: u.lastName,
      email: u.email, is_active: u.isActive, date_joined: restTime(u.createdUs), last_login: null, groups: [], permissions: [],
    };
  }

  private userById(id: number | null): Record<string, unknown> | null {
    return id === null ? null : this.user(this.model.users.get(id));
  }

  private tagsOf(names: unknown): Array<Record<string, unknown>> {
    return (Array.isArray(names) ? names : []).map((n) => {
      const t = this.model.tagByName(String(n));
      return { id: t.id, url: this.url('extras/tags', t.id), display: t.name, name: t.name, slug: t.slug, color: t.color };
    });
  }

  private customFieldValues(objectType: string, stored: unknown): Record<string, unknown> {
    const data = (stored ?? {}) as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const cf of this.model.customFieldsFor(objectType)) out[cf.name] = data[cf.name] ?? null;
    return out;
  }

  // Branching -----------------------------------------------------------------------------------------------------

  branch(b: BranchRecord): Record<string, unknown> {
    return {
      id: b.id, url: this.url('plugins/branching/branches', b.id), display: b.name, name: b.name,
      status: choice(b.status, BRANCH_STATUS_LABELS), owner: this.userById(b.ownerId), description: b.description,
      schema_id: b.schemaId, last_sync: time(b.lastSyncUs), merged_time: time(b.mergedTimeUs),
      merged_by: this.userById(b.mergedById), comments: b.comments, tags: this.tagsOf(b.tags),
      custom_fields: this.customFieldValues('netbox_branching.branch', b.customFields),
      created: restTime(b.createdUs), last_updated: restTime(b.lastUpdatedUs),
    };
  }

  branchSummary(b: BranchRecord): Record<string, unknown> {
    return {
      id: b.id, url: this.url('plugins/branching/branches', b.id), display: b.name, name: b.name,
      status: choice(b.status, BRANCH_STATUS_LABELS), description: b.description,
    };
  }

  event(e: BranchEventRecord): Record<string, unknown> {
    const b = this.model.branches.get(e.branchId)!;
    return {
      id: e.id, url: this.url('plugins/branching/branch-events', e.id), display: `${b.name}: ${EVENT_TYPE_LABELS[e.type]}`,
      time: restTime(e.timeUs), branch: this.branchSummary(b), user: this.userById(e.userId),
      type: choice(e.type, EVENT_TYPE_LABELS),
    };
  }

  changeDiff(d: DiffRecord): Record<string, unknown> {
    const b = this.model.branches.get(d.branchId)!;
    const meta = OBJECT_KINDS[d.kind];
    // Resolved in the branch while it is active, in main once merged or archived.
    const view = this.model.view(b.status === 'merged' || b.status === 'archived' ? null : b);
    const obj = view.get(d.kind, d.objectId);
    return {
      id: d.id, url: this.url('plugins/branching/changes', d.id),
      display: `${ACTION_LABELS[d.action]} ${meta.verboseName} ${d.objectRepr} (${d.objectId})`,
      branch: this.branchSummary(b), object_type: meta.objectType, object_id: d.objectId,
      object: obj ? this.nested(obj, view) : null, object_repr: d.objectRepr, action: choice(d.action, ACTION_LABELS),
      conflicts: conflictsOf(d), diff: diffOf(d), original_data: d.original, modified_data: d.modified,
      current_data: d.current, last_updated: restTime(d.lastUpdatedUs),
    };
  }

  // Virtualization ------------------------------------------------------------------------------------------------

  nested(obj: StoredObject, view: View): Record<string, unknown> {
    const base = { id: obj.pk, url: this.url(OBJECT_KINDS[obj.kind].restPath, obj.pk), display: String(obj.data.name), name: obj.data.name };
    if (obj.kind === 'vm') return { ...base, description: obj.data.description ?? '' };
    return { ...base, virtual_machine: this.nestedVmByPk(obj.data.virtual_machine as number, view), description: obj.data.description ?? '' };
  }

  private nestedVmByPk(pk: number, view: View): Record<string, unknown> {
    const vm = view.get('vm', pk);
    const name = vm ? String(vm.data.name) : String(pk);
    return { id: pk, url: this.url(OBJECT_KINDS.vm.restPath, pk), display: name, name, description: vm?.data.description ?? '' };
  }

  private ref(kind: RefKind, pk: unknown): Record<string, unknown> | null {
    if (typeof pk !== 'number') return null;
    const rec = this.model.refs[kind].get(pk);
    const name = rec?.name ?? String(pk);
    if (kind === 'ipaddress') return { id: pk, url: this.url(REF_PATHS[kind], pk), display: name, family: name.includes(':') ? 6 : 4, address: name };
    return { id: pk, url: this.url(REF_PATHS[kind], pk), display: name, name, slug: rec?.slug ?? String(pk), description: rec?.description ?? '' };
  }

  private nestedRef(path: string, rec: RefRecord | undefined, pk: unknown): Record<string, unknown> | null {
    if (typeof pk !== 'number') return null;
    const name = rec?.name ?? String(pk);
    return { id: pk, url: this.url(path, pk), display: name, name, slug: rec?.slug ?? String(pk), description: rec?.description ?? '' };
  }

  vm(obj: StoredObject): Record<string, unknown> {
    const d = obj.data;
    const out: Record<string, unknown> = {
      id: obj.pk, url: this.url(OBJECT_KINDS.vm.restPath, obj.pk), display: String(d.name), name: d.name,
      status: choice(d.status, VM_STATUS_LABELS),
    };
    if ('start_on_boot' in d) out.start_on_boot = choice(d.start_on_boot, START_ON_BOOT_LABELS);
    const cluster = typeof d.cluster === 'number' ? this.model.clusters.get(d.cluster) : undefined;
    const ip4 = this.ref('ipaddress', d.primary_ip4), ip6 = this.ref('ipaddress', d.primary_ip6);
    Object.assign(out, {
      site: this.ref('site', d.site),
      cluster: this.nestedRef('virtualization/clusters', cluster, d.cluster),
      device: null, serial: d.serial ?? '',
      role: this.nestedRef('dcim/device-roles', typeof d.role === 'number' ? this.model.deviceRoles.get(d.role) : undefined, d.role),
    });
    if ('virtual_machine_type' in d) {
      out.virtual_machine_type = this.nestedRef('virtualization/virtual-machine-types',
        typeof d.virtual_machine_type === 'number' ? this.model.vmTypes.get(d.virtual_machine_type) : undefined, d.virtual_machine_type);
    }
    Object.assign(out, {
      tenant: this.ref('tenant', d.tenant), platform: this.ref('platform', d.platform),
      primary_ip: ip6 ?? ip4, primary_ip4: ip4, primary_ip6: ip6,
      vcpus: d.vcpus === null || d.vcpus === undefined ? null : Number(d.vcpus),
      memory: d.memory ?? null, disk: d.disk ?? null, description: d.description ?? '', comments: d.comments ?? '',
      config_template: null, local_context_data: d.local_context_data ?? null, tags: this.tagsOf(d.tags),
      custom_fields: this.customFieldValues(OBJECT_KINDS.vm.objectType, d.custom_fields),
      created: restTime(obj.createdUs), last_updated: restTime(obj.lastUpdatedUs),
      interface_count: d.interface_count ?? 0, virtual_disk_count: d.virtual_disk_count ?? 0,
    });
    return out;
  }

  disk(obj: StoredObject, view: View): Record<string, unknown> {
    const d = obj.data;
    return {
      id: obj.pk, url: this.url(OBJECT_KINDS.disk.restPath, obj.pk), display: String(d.name),
      virtual_machine: this.nestedVmByPk(d.virtual_machine as number, view), name: d.name, size: d.size,
      description: d.description ?? '', tags: this.tagsOf(d.tags),
      custom_fields: this.customFieldValues(OBJECT_KINDS.disk.objectType, d.custom_fields),
      created: restTime(obj.createdUs), last_updated: restTime(obj.lastUpdatedUs),
    };
  }

  vmInterface(obj: StoredObject, view: View): Record<string, unknown> {
    const d = obj.data;
    const mac = typeof d.primary_mac_address === 'number' ? this.model.macAddresses.get(d.primary_mac_address) : undefined;
    const untagged = typeof d.untagged_vlan === 'number' ? this.model.vlans.get(d.untagged_vlan) : undefined;
    const sibling = (pk: unknown) => {
      const o = typeof pk === 'number' ? view.get('interface', pk) : undefined;
      return o ? { id: o.pk, url: this.url(OBJECT_KINDS.interface.restPath, o.pk), display: String(o.data.name), name: o.data.name } : null;
    };
    return {
      id: obj.pk, url: this.url(OBJECT_KINDS.interface.restPath, obj.pk), display: String(d.name),
      virtual_machine: this.nestedVmByPk(d.virtual_machine as number, view), name: d.name, enabled: d.enabled ?? true,
      parent: sibling(d.parent), bridge: sibling(d.bridge), mtu: d.mtu ?? null,
      primary_mac_address: mac ? this.nestedMacAddress(mac) : null, mac_address: mac?.macAddress ?? null,
      mac_addresses: [...this.model.macAddresses.values()].filter((m) => m.assignedInterface === obj.pk).map((m) => this.nestedMacAddress(m)),
      description: d.description ?? '', mode: choice(d.mode, MODE_LABELS), untagged_vlan: untagged ? this.nestedVlan(untagged) : null,
      tagged_vlans: ((d.tagged_vlans ?? []) as number[]).flatMap((pk) => { const v = this.model.vlans.get(pk); return v ? [this.nestedVlan(v)] : []; }),
      qinq_svlan: null, vlan_translation_policy: null, vrf: null, l2vpn_termination: null, tags: this.tagsOf(d.tags),
      custom_fields: this.customFieldValues(OBJECT_KINDS.interface.objectType, d.custom_fields),
      created: restTime(obj.createdUs), last_updated: restTime(obj.lastUpdatedUs), count_ipaddresses: 0, count_fhrp_groups: 0,
    };
  }

  /** The brief form NetBox nests (`MACAddressSerializer(nested=True)`). */
  private nestedMacAddress(m: MacAddressRecord): Record<string, unknown> {
    return { id: m.id, url: this.url('dcim/mac-addresses', m.id), display: m.macAddress, description: m.description, mac_address: m.macAddress };
  }

  macAddress(m: MacAddressRecord, view: View): Record<string, unknown> {
    const iface = m.assignedInterface === null ? undefined : view.get('interface', m.assignedInterface);
    return {
      ...this.nestedMacAddress(m),
      assigned_object_type: m.assignedInterface === null ? null : OBJECT_KINDS.interface.objectType,
      assigned_object_id: m.assignedInterface,
      assigned_object: iface ? this.nested(iface, view) : null,
      comments: '', tags: [], custom_fields: {}, created: restTime(m.createdUs), last_updated: restTime(m.lastUpdatedUs),
    };
  }

  private nestedVlan(v: VlanRecord): Record<string, unknown> {
    return { id: v.id, url: this.url('ipam/vlans', v.id), display: `${v.name} (${v.vid})`, vid: v.vid, name: v.name, description: v.description };
  }

  vlan(v: VlanRecord): Record<string, unknown> {
    return {
      ...this.nestedVlan(v), site: null, group: null, tenant: null, status: { value: 'active', label: 'Active' }, role: null,
      qinq_role: null, qinq_svlan: null, comments: '', l2vpn_termination: null, tags: [], custom_fields: {},
      created: restTime(v.createdUs), last_updated: restTime(v.lastUpdatedUs), prefix_count: 0,
    };
  }

  cluster(c: RefRecord): Record<string, unknown> {
    const vms = this.model.view(null).list('vm').filter((v) => v.data.cluster === c.id).length;
    return {
      id: c.id, url: this.url('virtualization/clusters', c.id), display: c.name, name: c.name, type: null, group: null,
      status: { value: 'active', label: 'Active' }, tenant: null, scope_type: null, scope_id: null, scope: null,
      description: c.description, comments: '', tags: [], custom_fields: {}, created: restTime(c.createdUs),
      last_updated: restTime(c.lastUpdatedUs), device_count: 0, virtualmachine_count: vms,
    };
  }

  deviceRole(r: DeviceRoleRecord): Record<string, unknown> {
    return {
      id: r.id, url: this.url('dcim/device-roles', r.id), display: r.name, name: r.name, slug: r.slug, color: r.color,
      vm_role: r.vmRole, config_template: null, parent: null, description: r.description, tags: [], custom_fields: {},
      created: restTime(r.createdUs), last_updated: restTime(r.lastUpdatedUs),
    };
  }

  vmType(t: RefRecord): Record<string, unknown> {
    return {
      id: t.id, url: this.url('virtualization/virtual-machine-types', t.id), display: t.name, name: t.name, slug: t.slug,
      description: t.description, tags: [], custom_fields: {}, created: restTime(t.createdUs), last_updated: restTime(t.lastUpdatedUs),
    };
  }

  customField(cf: CustomFieldRecord): Record<string, unknown> {
    return {
      id: cf.id, url: this.url('extras/custom-fields', cf.id), display: cf.label || cf.name, object_types: cf.objectTypes,
      type: { value: cf.type, label: CF_TYPE_LABELS[cf.type] }, related_object_type: null, data_type: CF_DATA_TYPES[cf.type],
      name: cf.name, label: cf.label, group_name: '', description: cf.description, required: false, unique: false,
      search_weight: 1000, filter_logic: { value: 'loose', label: 'Loose' }, ui_visible: choice(cf.uiVisible, UI_VISIBLE_LABELS),
      ui_editable: choice(cf.uiEditable, UI_EDITABLE_LABELS), is_cloneable: false, default: null, related_object_filter: null,
      weight: 100, validation_minimum: null, validation_maximum: null, validation_regex: '', choice_set: null,
      comments: '', created: restTime(cf.createdUs), last_updated: restTime(cf.lastUpdatedUs),
    };
  }
}

function alteredFields(d: DiffRecord): string[] {
  if (d.action !== 'update' || !d.original || !d.modified) return [];
  const o = d.original, m = d.modified;
  return [...new Set([...Object.keys(o), ...Object.keys(m)])].filter((k) => !deepEqual(o[k], m[k])).sort();
}

/** Only the fields an update altered; empty for creates and deletes. */
export function diffOf(d: DiffRecord): { original: ChangeData; modified: ChangeData; current: ChangeData } {
  const pick = (src: ChangeData | null, keys: string[]) => Object.fromEntries(keys.map((k) => [k, src?.[k] ?? null]));
  const keys = alteredFields(d);
  return { original: pick(d.original, keys), modified: pick(d.modified, keys), current: d.current ? pick(d.current, keys) : {} };
}

/** Fields changed in main since divergence that the branch changed differently; for deletes, any main change. */
export function conflictsOf(d: DiffRecord): string[] | null {
  if (!d.original || !d.current) return null;
  const o = d.original, c = d.current;
  let fields: string[] = [];
  if (d.action === 'update' && d.modified) {
    const m = d.modified;
    fields = alteredFields(d).filter((k) => !deepEqual(o[k], c[k]) && !deepEqual(m[k], c[k]));
  } else if (d.action === 'delete') {
    fields = [...new Set([...Object.keys(o), ...Object.keys(c)])].filter((k) => !deepEqual(o[k], c[k])).sort();
  }
  return fields.length ? fields : null;
}
