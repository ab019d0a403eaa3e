/**
 * The in-memory state of the NetBox simulator: main, branches with their working state and ChangeDiffs, branch
 * events and webhook deliveries. Objects are stored in change-data representation (netbox.md §1); REST is derived.
 */
import { randomBytes } from 'node:crypto';
import type { BranchEventType, BranchStatus, ChangeAction, ChangeData } from '../../contracts/netbox';
import { INTENT_CUSTOM_FIELDS, type UiEditable, type UiVisible } from '../../domain/intent-custom-fields';
import { MicrosClock, changeDataTime, pythonIsoformatUtc } from './time';
import { WebhookDispatcher, type WebhookDelivery, type WebhookTarget } from './webhooks';

export type NetboxVersion = '4.4' | '4.5' | '4.6';
export type ObjectKind = 'vm' | 'disk' | 'interface';

export const OBJECT_KINDS: Record<ObjectKind, { objectType: string; contentTypeId: number; verboseName: string; modelName: string; restPath: string }> = {
  vm: { objectType: 'virtualization.virtualmachine', contentTypeId: 83, verboseName: 'virtual machine', modelName: 'VirtualMachine', restPath: 'virtualization/virtual-machines' },
  disk: { objectType: 'virtualization.virtualdisk', contentTypeId: 86, verboseName: 'virtual disk', modelName: 'VirtualDisk', restPath: 'virtualization/virtual-disks' },
  interface: { objectType: 'virtualization.vminterface', contentTypeId: 84, verboseName: 'interface', modelName: 'VMInterface', restPath: 'virtualization/interfaces' },
};

export function kindOfObjectType(objectType: string): ObjectKind | undefined {
  return (Object.keys(OBJECT_KINDS) as ObjectKind[]).find((k) => OBJECT_KINDS[k].objectType === objectType);
}

/** A failed simulator operation; `/_sim` routes answer with this status and body. */
export class SimulatorError extends Error {
  constructor(readonly status: number, readonly body: Record<string, unknown>) {
    super(typeof body.detail === 'string' ? body.detail : JSON.stringify(body));
  }
}

const notFound = (what: string) => new SimulatorError(404, { detail: `No ${what} matches the given query.` });

export interface UserRecord {
  id: number; username: string; firstName: string; lastName: string; email: string; isActive: boolean; createdUs: number;
}
export type NewUserInput = { id?: number; username: string } & Partial<Pick<UserRecord, 'firstName' | 'lastName' | 'email' | 'isActive'>>;
export interface RefRecord { id: number; name: string; slug: string; description: string; createdUs: number; lastUpdatedUs: number }
export interface DeviceRoleRecord extends RefRecord { color: string; vmRole: boolean }
export interface TagRecord { id: number; name: string; slug: string; color: string }
export const CUSTOM_FIELD_TYPES = ['text', 'longtext', 'integer', 'decimal', 'boolean', 'date', 'datetime', 'url', 'json', 'select', 'multiselect', 'object', 'multiobject'] as const;
export type CustomFieldType = (typeof CUSTOM_FIELD_TYPES)[number];
export interface CustomFieldRecord {
  id: number; name: string; label: string; type: CustomFieldType; objectTypes: string[]; description: string;
  uiVisible: UiVisible; uiEditable: UiEditable; createdUs: number; lastUpdatedUs: number;
}
export type NewCustomFieldInput = {
  id?: number; name: string; type: CustomFieldType; objectTypes: string[];
} & Partial<Pick<CustomFieldRecord, 'label' | 'description' | 'uiVisible' | 'uiEditable'>>;
export type RefKind = 'site' | 'tenant' | 'platform' | 'ipaddress';
/** NetBox 4.2+ dcim.MACAddress (main only in the simulator: branches see main's). */
export interface MacAddressRecord { id: number; macAddress: string; assignedInterface: number | null; description: string; createdUs: number; lastUpdatedUs: number }
/** ipam.VLAN (main only in the simulator). */
export interface VlanRecord { id: number; vid: number; name: string; description: string; createdUs: number; lastUpdatedUs: number }

export interface StoredObject { kind: ObjectKind; pk: number; data: ChangeData; createdUs: number; lastUpdatedUs: number }

export interface DiffRecord {
  id: number;
  branchId: number;
  kind: ObjectKind;
  objectId: number;
  action: ChangeAction;
  original: ChangeData | null;
  modified: ChangeData | null;
  current: ChangeData | null;
  objectRepr: string;
  lastUpdatedUs: number;
}

export interface BranchRecord {
  id: number;
  name: string;
  description: string;
  comments: string;
  schemaId: string;
  status: BranchStatus;
  ownerId: number | null;
  lastSyncUs: number | null;
  mergedTimeUs: number | null;
  mergedById: number | null;
  mergeStrategy: 'iterative' | 'squash' | null;
  appliedMigrations: string[];
  tags: string[];
  customFields: Record<string, unknown>;
  createdUs: number;
  lastUpdatedUs: number;
  /** The branch schema: objects that differ from main; null marks an object deleted in the branch. */
  overlay: Map<string, StoredObject | null>;
  diffs: Map<string, DiffRecord>;
  lastMergedMs: number | null;
  /** Main's objects as they were before the last merge, for a revert. undefined: did not exist. */
  mergeSnapshot: Map<string, StoredObject | undefined> | null;
}

export interface BranchEventRecord { id: number; branchId: number; type: BranchEventType; userId: number | null; timeUs: number }

export interface VmInput {
  id?: number;
  name: string;
  vcpus?: string | number | null;
  memory?: number | null;
  disk?: number | null;
  cluster?: number | null;
  role?: number | null;
  virtual_machine_type?: number | null;
  status?: string;
  custom_fields?: Record<string, unknown>;
  tags?: string[];
  [field: string]: unknown;
}
export type VmPatch = Partial<Omit<VmInput, 'id'>>;

export interface VirtualDiskInput {
  id?: number;
  virtual_machine: number;
  name: string;
  size: number;
  description?: string;
  custom_fields?: Record<string, unknown>;
  tags?: string[];
  [field: string]: unknown;
}
export type VirtualDiskPatch = Partial<Omit<VirtualDiskInput, 'id'>>;

export interface VmInterfaceInput {
  id?: number;
  virtual_machine: number;
  name: string;
  enabled?: boolean;
  mtu?: number | null;
  mode?: string | null;
  description?: string;
  custom_fields?: Record<string, unknown>;
  tags?: string[];
  [field: string]: unknown;
}
export type VmInterfacePatch = Partial<Omit<VmInterfaceInput, 'id'>>;

export interface CreateBranchInput {
  name: string;
  /** Username of the owner; defaults to the first user. */
  owner?: string;
  description?: string;
  comments?: string;
  customFields?: Record<string, unknown>;
  /** Fixed schema_id (8 lowercase alphanumerics); random by default. */
  schemaId?: string;
  id?: number;
}

export interface MergeOutcome { branch: BranchRecord; deliveries: WebhookDelivery[] }

export const WORKING_STATUSES: readonly BranchStatus[] = ['new', 'ready', 'pending-migrations', 'provisioning', 'syncing', 'migrating', 'merging', 'reverting'];

export interface JournalEntryRecord {
  id: number;
  objectType: string;
  objectId: number;
  kind: 'info' | 'success' | 'warning' | 'danger';
  comments: string;
  createdBy: number | null;
  createdUs: number;
  lastUpdatedUs: number;
}

const key = (kind: ObjectKind, pk: number) => `${kind}:${pk}`;

export function clone<T>(value: T): T {
  return value === undefined ? value : structuredClone(value);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function normaliseDecimal(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === 'number' ? value : Number(value);
  if (typeof value === 'string' && !/^-?\d+(\.\d+)?$/.test(value)) throw new SimulatorError(400, { vcpus: ['A valid number is required.'] });
  if (!Number.isFinite(n)) throw new SimulatorError(400, { vcpus: ['A valid number is required.'] });
  return n.toFixed(2);
}

const sortedNames = (tags: unknown): string[] => [...new Set((Array.isArray(tags) ? tags : []).map(String))].sort();

export function slugify(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '');
}

/** A read view over main, or over a branch's working state. */
export class View {
  constructor(private readonly model: NetboxModel, readonly branch: BranchRecord | null) {}

  get(kind: ObjectKind, pk: number): StoredObject | undefined {
    const k = key(kind, pk);
    if (this.branch?.overlay.has(k)) return this.branch.overlay.get(k) ?? undefined;
    return this.model.main.get(k);
  }

  list(kind: ObjectKind): StoredObject[] {
    const byKey = new Map<string, StoredObject>();
    for (const [k, obj] of this.model.main) if (obj.kind === kind) byKey.set(k, obj);
    if (this.branch) {
      for (const [k, obj] of this.branch.overlay) {
        if (!k.startsWith(`${kind}:`)) continue;
        if (obj) byKey.set(k, obj); else byKey.delete(k);
      }
    }
    return [...byKey.values()];
  }

  childrenOf(kind: 'disk' | 'interface', vmPk: number): StoredObject[] {
    return this.list(kind).filter((o) => o.data.virtual_machine === vmPk).sort((a, b) => a.pk - b.pk);
  }
}

export interface NetboxModelOptions {
  version?: NetboxVersion;
  now?: () => number;
  webhookTimeoutMs?: number;
}

export class NetboxModel {
  readonly version: NetboxVersion;
  readonly clock: MicrosClock;
  readonly webhooks: WebhookDispatcher;

  readonly main = new Map<string, StoredObject>();
  readonly branches = new Map<number, BranchRecord>();
  readonly events: BranchEventRecord[] = [];
  readonly users = new Map<number, UserRecord>();
  readonly clusters = new Map<number, RefRecord>();
  readonly deviceRoles = new Map<number, DeviceRoleRecord>();
  readonly vmTypes = new Map<number, RefRecord>();
  readonly customFields = new Map<number, CustomFieldRecord>();
  readonly tags = new Map<number, TagRecord>();
  /** Journal entries (netbox.md §7.6), in main: they are written there, never inside a branch. */
  readonly journal = new Map<number, JournalEntryRecord>();
  readonly refs: Record<RefKind, Map<number, RefRecord>> = { site: new Map(), tenant: new Map(), platform: new Map(), ipaddress: new Map() };
  readonly macAddresses = new Map<number, MacAddressRecord>();
  readonly vlans = new Map<number, VlanRecord>();

  private seqs = new Map<string, number>();

  constructor(opts: NetboxModelOptions = {}) {
    this.version = opts.version ?? '4.5';
    this.clock = new MicrosClock(opts.now);
    this.webhooks = new WebhookDispatcher(opts.webhookTimeoutMs);
    this.resetState();
  }

  /** Empties everything and seeds the base: user `admin` and the custom fields of netbox.md §7.2 and §7.3. */
  resetState(): void {
    this.main.clear();
    this.branches.clear();
    this.events.length = 0;
    this.users.clear();
    this.clusters.clear();
    this.deviceRoles.clear();
    this.vmTypes.clear();
    this.customFields.clear();
    this.tags.clear();
    this.journal.clear();
    for (const m of Object.values(this.refs)) m.clear();
    this.macAddresses.clear();
    this.vlans.clear();
    this.seqs.clear();
    this.webhooks.reset();
    this.addUser({ id: 1, username: 'admin' });
    for (const f of INTENT_CUSTOM_FIELDS) {
      this.addCustomField({
        name: f.name, type: f.type, objectTypes: [...f.objectTypes], label: f.label, description: f.description,
        ...(f.hidden ? { uiVisible: 'hidden', uiEditable: 'hidden' } : {}),
      });
    }
  }

  /** Next pk of a sequence; explicit ids move the sequence past them, as PostgreSQL setval would. */
  nextId(seq: string, explicit?: number): number {
    const current = this.seqs.get(seq) ?? 0;
    if (explicit !== undefined) {
      if (!Number.isSafeInteger(explicit) || explicit < 1) throw new SimulatorError(400, { id: ['Enter a whole number.'] });
      this.seqs.set(seq, Math.max(current, explicit));
      return explicit;
    }
    this.seqs.set(seq, current + 1);
    return current + 1;
  }

  /** Makes the next id of a sequence at least `value + 1`. */
  bumpSequence(seq: string, value: number): void {
    this.seqs.set(seq, Math.max(this.seqs.get(seq) ?? 0, value));
  }

  // -------------------------------------------------------------------------------------------------------------
  // Reference data

  addUser(input: NewUserInput): UserRecord {
    if (this.userByName(input.username)) throw new SimulatorError(400, { username: ['A user with that username already exists.'] });
    // NetBox's User.clean(): usernames that differ only in case are refused too.
    const folded = input.username.toLowerCase();
    if ([...this.users.values()].some((u) => u.username.toLowerCase() === folded)) throw new SimulatorError(400, { __all__: ['A user with this username already exists.'] });
    const id = this.nextId('user', input.id);
    if (this.users.has(id)) throw new SimulatorError(400, { id: [`user ${id} already exists`] });
    const user: UserRecord = {
      id, username: input.username, firstName: input.firstName ?? '', lastName: input.lastName ?? '', email: input.email ?? '',
      isActive: input.isActive ?? true, createdUs: this.clock.now(),
    };
    this.users.set(id, user);
    return user;
  }

  userByName(username: string): UserRecord | undefined {
    return [...this.users.values()].find((u) => u.username === username);
  }

  private addRefTo<T extends RefRecord>(map: Map<number, T>, seq: string, input: { id?: number; name: string; slug?: string; description?: string }, extra: Omit<T, keyof RefRecord>): T {
    const id = this.nextId(seq, input.id);
    if (map.has(id)) throw new SimulatorError(400, { id: [`${seq} ${id} already exists`] });
    const now = this.clock.now();
    const rec = { id, name: input.name, slug: input.slug ?? slugify(input.name), description: input.description ?? '', createdUs: now, lastUpdatedUs: now, ...extra } as T;
    map.set(id, rec);
    return rec;
  }

  addCluster(input: { id?: number; name: string; description?: string }): RefRecord {
    return this.addRefTo(this.clusters, 'cluster', input, {});
  }

  addDeviceRole(input: { id?: number; name: string; slug?: string; description?: string; color?: string; vmRole?: boolean }): DeviceRoleRecord {
    return this.addRefTo<DeviceRoleRecord>(this.deviceRoles, 'devicerole', input, { color: input.color ?? '9e9e9e', vmRole: input.vmRole ?? true });
  }

  addVmType(input: { id?: number; name: string; slug?: string; description?: string }): RefRecord {
    return this.addRefTo(this.vmTypes, 'vmtype', input, {});
  }

  /** Sites, tenants, platforms and IP addresses only appear as nested references. */
  addRef(kind: RefKind, input: { id?: number; name: string; slug?: string }): RefRecord {
    return this.addRefTo(this.refs[kind], kind, input, {});
  }

  /** A MAC address as NetBox stores it (EUI-48, served upper-case with colons). */
  addMacAddress(input: { id?: number; mac_address: string; assigned_object_id?: number | null; description?: string }): MacAddressRecord {
    if (!/^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i.test(input.mac_address)) {
      throw new SimulatorError(400, { mac_address: [`Invalid MAC address format: ${input.mac_address}`] });
    }
    const hex = input.mac_address.replace(/[:-]/g, '').toUpperCase();
    const id = this.nextId('macaddress', input.id);
    if (this.macAddresses.has(id)) throw new SimulatorError(400, { id: [`macaddress ${id} already exists`] });
    const now = this.clock.now();
    const rec = { id, macAddress: hex.match(/../g)!.join(':'), assignedInterface: input.assigned_object_id ?? null, description: input.description ?? '', createdUs: now, lastUpdatedUs: now };
    this.macAddresses.set(id, rec);
    return rec;
  }

  addVlan(input: { id?: number; vid: number; name: string; description?: string }): VlanRecord {
    if (!Number.isInteger(input.vid) || input.vid < 1 || input.vid > 4094) throw new SimulatorError(400, { vid: ['Ensure this value is less than or equal to 4094.'] });
    const id = this.nextId('vlan', input.id);
    if (this.vlans.has(id)) throw new SimulatorError(400, { id: [`vlan ${id} already exists`] });
    const now = this.clock.now();
    const rec = { id, vid: input.vid, name: input.name, description: input.description ?? '', createdUs: now, lastUpdatedUs: now };
    this.vlans.set(id, rec);
    return rec;
  }

  addCustomField(input: NewCustomFieldInput): CustomFieldRecord {
    if (this.customFieldByName(input.name)) throw new SimulatorError(400, { name: ['custom field with this name already exists.'] });
    const id = this.nextId('customfield', input.id);
    const now = this.clock.now();
    const rec: CustomFieldRecord = {
      id, name: input.name, label: input.label ?? '', type: input.type, objectTypes: input.objectTypes,
      description: input.description ?? '', uiVisible: input.uiVisible ?? 'always', uiEditable: input.uiEditable ?? 'yes',
      createdUs: now, lastUpdatedUs: now,
    };
    this.customFields.set(id, rec);
    return rec;
  }

  customFieldByName(name: string): CustomFieldRecord | undefined {
    return [...this.customFields.values()].find((cf) => cf.name === name);
  }

  /** Removes a custom field definition (for example to test the startup check for `proxmox_vm_id`). */
  removeCustomField(name: string): boolean {
    const cf = this.customFieldByName(name);
    return cf ? this.customFields.delete(cf.id) : false;
  }

  customFieldsFor(objectType: string): CustomFieldRecord[] {
    return [...this.customFields.values()].filter((cf) => cf.objectTypes.includes(objectType)).sort((a, b) => a.id - b.id);
  }

  tagByName(name: string): TagRecord {
    const found = [...this.tags.values()].find((t) => t.name === name);
    if (found) return found;
    const tag = { id: this.nextId('tag'), name, slug: slugify(name), color: '9e9e9e' };
    this.tags.set(tag.id, tag);
    return tag;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Object data

  private fullCustomFields(objectType: string, given: Record<string, unknown> | undefined): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const cf of this.customFieldsFor(objectType)) out[cf.name] = null;
    return { ...out, ...given };
  }

  private buildVm(input: VmInput): ChangeData {
    if (typeof input.name !== 'string' || !input.name) throw new SimulatorError(400, { name: ['This field is required.'] });
    const data: ChangeData = {
      site: null, cluster: null, device: null, tenant: null, platform: null,
      ...(this.version === '4.4' ? {} : { owner: null }),
      name: input.name, status: 'active',
      ...(this.version === '4.4' ? {} : { start_on_boot: 'off' }),
      role: null,
      ...(this.version === '4.6' || input.virtual_machine_type != null ? { virtual_machine_type: null } : {}),
      primary_ip4: null, primary_ip6: null, vcpus: null, memory: null, disk: null, serial: '',
      config_template: null, local_context_data: null, description: '', comments: '',
      interface_count: 0, virtual_disk_count: 0,
    };
    return this.patchData('vm', { ...data, custom_fields: this.fullCustomFields(OBJECT_KINDS.vm.objectType, undefined), tags: [] }, input);
  }

  private buildDisk(input: VirtualDiskInput): ChangeData {
    if (!Number.isSafeInteger(input.size) || input.size < 0) throw new SimulatorError(400, { size: ['A valid integer is required.'] });
    const data: ChangeData = { virtual_machine: input.virtual_machine, name: input.name, size: input.size, description: '' };
    return this.patchData('disk', { ...data, custom_fields: this.fullCustomFields(OBJECT_KINDS.disk.objectType, undefined), tags: [] }, input);
  }

  private buildInterface(input: VmInterfaceInput): ChangeData {
    const data: ChangeData = {
      virtual_machine: input.virtual_machine, name: input.name, enabled: true, parent: null, bridge: null, mtu: null,
      primary_mac_address: null, description: '', mode: null, untagged_vlan: null, qinq_svlan: null,
      vlan_translation_policy: null, vrf: null,
    };
    return this.patchData('interface', { ...data, custom_fields: this.fullCustomFields(OBJECT_KINDS.interface.objectType, undefined), tagged_vlans: [], tags: [] }, input);
  }

  /** PATCH semantics: custom fields merge key by key, tags replace and are kept sorted, vcpus become "2.00". */
  private patchData(kind: ObjectKind, base: ChangeData, patch: Record<string, unknown>): ChangeData {
    const out = clone(base);
    for (const [k, v] of Object.entries(patch)) {
      if (k === 'id' || v === undefined) continue;
      if (k === 'custom_fields') out.custom_fields = { ...(out.custom_fields as Record<string, unknown>), ...clone(v as Record<string, unknown>) };
      else if (k === 'tags') { out.tags = sortedNames(v); for (const t of out.tags as string[]) this.tagByName(t); }
      else if (k === 'vcpus' && kind === 'vm') out.vcpus = normaliseDecimal(v);
      else out[k] = clone(v);
    }
    if (kind !== 'vm' && typeof out.name !== 'string') throw new SimulatorError(400, { name: ['This field is required.'] });
    if (kind === 'interface') this.checkInterfaceReferences(out);
    return out;
  }

  /** The MAC address and VLAN pks an interface names must exist, as NetBox's serializer checks. */
  private checkInterfaceReferences(data: ChangeData): void {
    const invalid = (field: string, pk: unknown) => new SimulatorError(400, { [field]: [`Invalid pk "${String(pk)}" - object does not exist.`] });
    const mac = data.primary_mac_address;
    if (mac != null && !this.macAddresses.has(mac as number)) throw invalid('primary_mac_address', mac);
    if (data.untagged_vlan != null && !this.vlans.has(data.untagged_vlan as number)) throw invalid('untagged_vlan', data.untagged_vlan);
    for (const v of (data.tagged_vlans ?? []) as number[]) if (!this.vlans.has(v)) throw invalid('tagged_vlans', v);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Views and writes

  view(branch: BranchRecord | null): View {
    return new View(this, branch);
  }

  branch(id: number): BranchRecord {
    const b = this.branches.get(id);
    if (!b) throw notFound('Branch');
    return b;
  }

  branchBySchemaId(schemaId: string): BranchRecord | undefined {
    return [...this.branches.values()].find((b) => b.schemaId === schemaId);
  }

  private editableBranch(id: number): BranchRecord {
    const b = this.branch(id);
    if (b.status !== 'ready') throw new SimulatorError(409, { detail: `Branch ${b.name} is not ready (status: ${b.status}).` });
    return b;
  }

  /** Stores an object in a view without logging a change (NetBox's queryset updates of cached counters). */
  private putSilently(view: View, obj: StoredObject): void {
    if (view.branch) view.branch.overlay.set(key(obj.kind, obj.pk), obj);
    else this.main.set(key(obj.kind, obj.pk), obj);
  }

  /**
   * NetBox keeps `disk` equal to the sum of the VM's VirtualDisks and counts interfaces and disks, with queryset
   * updates that log no change. That is why `disk` in ChangeDiff data can be stale (netbox.md §4).
   */
  private refreshAggregates(view: View, vmPk: number, diskChanged: boolean): void {
    const vm = view.get('vm', vmPk);
    if (!vm) return;
    const disks = view.childrenOf('disk', vmPk);
    const data = clone(vm.data);
    if (diskChanged) data.disk = disks.length ? disks.reduce((sum, d) => sum + Number(d.data.size ?? 0), 0) : null;
    data.virtual_disk_count = disks.length;
    data.interface_count = view.childrenOf('interface', vmPk).length;
    if (!deepEqual(data, vm.data)) this.putSilently(view, { ...vm, data });
  }

  /** Logged write in main: ready branches see main's new state in their ChangeDiffs' current_data. */
  private writeMain(kind: ObjectKind, pk: number, data: ChangeData | null): void {
    const k = key(kind, pk);
    const now = this.clock.now();
    if (data) {
      const prev = this.main.get(k);
      this.main.set(k, { kind, pk, data: clone(data), createdUs: prev?.createdUs ?? now, lastUpdatedUs: now });
    } else {
      this.main.delete(k);
    }
    for (const b of this.branches.values()) {
      const diff = b.diffs.get(k);
      if (!diff || b.status !== 'ready') continue;
      diff.current = clone(data);
      diff.lastUpdatedUs = this.clock.now();
    }
  }

  /** Logged write inside a branch: updates the working state and the object's ChangeDiff (net effect, netbox.md §4). */
  private writeBranch(branch: BranchRecord, kind: ObjectKind, pk: number, data: ChangeData | null, beforeOverride?: ChangeData): void {
    const k = key(kind, pk);
    const view = this.view(branch);
    const existing = view.get(kind, pk);
    const before = beforeOverride ?? (existing ? clone(existing.data) : null);
    const now = this.clock.now();
    branch.overlay.set(k, data ? { kind, pk, data: clone(data), createdUs: existing?.createdUs ?? now, lastUpdatedUs: now } : null);

    let diff = branch.diffs.get(k);
    if (!diff) {
      const action: ChangeAction = before === null ? 'create' : data === null ? 'delete' : 'update';
      diff = {
        id: this.nextId('changediff'), branchId: branch.id, kind, objectId: pk, action,
        original: before, modified: clone(data), current: null, objectRepr: '', lastUpdatedUs: now,
      };
      branch.diffs.set(k, diff);
    } else if (diff.action === 'create') {
      // Created then deleted inside the branch: the action stays `create` and modified becomes null.
      diff.modified = clone(data);
    } else {
      if (data === null) diff.action = 'delete';
      diff.modified = clone(data);
    }
    diff.current = clone(this.main.get(k)?.data ?? null);
    diff.objectRepr = String((data ?? before)?.name ?? pk);
    diff.lastUpdatedUs = this.clock.now();
  }

  private write(branchId: number | null, kind: ObjectKind, pk: number, data: ChangeData | null, beforeOverride?: ChangeData): void {
    if (branchId === null) this.writeMain(kind, pk, data);
    else this.writeBranch(this.editableBranch(branchId), kind, pk, data, beforeOverride);
  }

  private target(branchId: number | null): View {
    return this.view(branchId === null ? null : this.editableBranch(branchId));
  }

  private requireVm(view: View, pk: unknown): StoredObject {
    const vm = typeof pk === 'number' ? view.get('vm', pk) : undefined;
    if (!vm) throw new SimulatorError(400, { virtual_machine: [`Invalid pk "${String(pk)}" - object does not exist.`] });
    return vm;
  }

  private existing(view: View, kind: ObjectKind, pk: number): StoredObject {
    const obj = view.get(kind, pk);
    if (!obj) throw notFound(OBJECT_KINDS[kind].modelName);
    return obj;
  }

  // Generic create/update/delete on main (branchId null) or in a ready branch.

  createObject(branchId: number | null, kind: 'vm', input: VmInput): StoredObject;
  createObject(branchId: number | null, kind: 'disk', input: VirtualDiskInput): StoredObject;
  createObject(branchId: number | null, kind: 'interface', input: VmInterfaceInput): StoredObject;
  createObject(branchId: number | null, kind: ObjectKind, input: VmInput | VirtualDiskInput | VmInterfaceInput): StoredObject {
    const view = this.target(branchId);
    let data: ChangeData;
    if (kind === 'vm') data = this.buildVm(input as VmInput);
    else {
      this.requireVm(view, (input as VirtualDiskInput).virtual_machine);
      data = kind === 'disk' ? this.buildDisk(input as VirtualDiskInput) : this.buildInterface(input as VmInterfaceInput);
    }
    if (input.id !== undefined && (this.main.has(key(kind, input.id)) || [...this.branches.values()].some((b) => b.overlay.has(key(kind, input.id!))))) {
      throw new SimulatorError(400, { id: [`${OBJECT_KINDS[kind].modelName} ${input.id} already exists`] });
    }
    const pk = this.nextId(kind, input.id);
    this.write(branchId, kind, pk, data);
    if (kind !== 'vm') this.refreshAggregates(view, data.virtual_machine as number, kind === 'disk');
    return this.existing(view, kind, pk);
  }

  updateObject(branchId: number | null, kind: ObjectKind, pk: number, patch: Record<string, unknown>): StoredObject {
    const view = this.target(branchId);
    const obj = this.existing(view, kind, pk);
    const data = this.patchData(kind, obj.data, patch);
    if (kind !== 'vm') this.requireVm(view, data.virtual_machine);
    this.write(branchId, kind, pk, data);
    if (kind !== 'vm') {
      const diskChanged = kind === 'disk';
      this.refreshAggregates(view, data.virtual_machine as number, diskChanged);
      if (obj.data.virtual_machine !== data.virtual_machine) this.refreshAggregates(view, obj.data.virtual_machine as number, diskChanged);
    }
    return this.existing(view, kind, pk);
  }

  /** Deleting a VM first deletes its interfaces and disks, each with its own delete row (netbox.md §4). */
  deleteObject(branchId: number | null, kind: ObjectKind, pk: number): void {
    const view = this.target(branchId);
    const obj = this.existing(view, kind, pk);
    if (kind === 'vm') {
      // The VM's own change record is taken before the cascade, as Django's pre_delete does.
      const before = clone(obj.data);
      for (const child of [...view.childrenOf('interface', pk), ...view.childrenOf('disk', pk)]) this.write(branchId, child.kind, child.pk, null);
      this.write(branchId, 'vm', pk, null, before);
      return;
    }
    this.write(branchId, kind, pk, null);
    this.refreshAggregates(view, obj.data.virtual_machine as number, kind === 'disk');
  }

  // Branch-side helpers named after what tests and the demo do.

  createVm(branchId: number, data: VmInput): StoredObject { return this.createObject(branchId, 'vm', data); }
  updateVm(branchId: number, pk: number, patch: VmPatch): StoredObject { return this.updateObject(branchId, 'vm', pk, patch); }
  deleteVm(branchId: number, pk: number): void { this.deleteObject(branchId, 'vm', pk); }
  createVirtualDisk(branchId: number, data: VirtualDiskInput): StoredObject { return this.createObject(branchId, 'disk', data); }
  updateVirtualDisk(branchId: number, pk: number, patch: VirtualDiskPatch): StoredObject { return this.updateObject(branchId, 'disk', pk, patch); }
  deleteVirtualDisk(branchId: number, pk: number): void { this.deleteObject(branchId, 'disk', pk); }
  createInterface(branchId: number, data: VmInterfaceInput): StoredObject { return this.createObject(branchId, 'interface', data); }
  updateInterface(branchId: number, pk: number, patch: VmInterfacePatch): StoredObject { return this.updateObject(branchId, 'interface', pk, patch); }
  deleteInterface(branchId: number, pk: number): void { this.deleteObject(branchId, 'interface', pk); }

  // Direct edits of main (not through a branch).

  addMainVm(data: VmInput): StoredObject { return this.createObject(null, 'vm', data); }
  updateMainVm(pk: number, patch: VmPatch): StoredObject { return this.updateObject(null, 'vm', pk, patch); }
  deleteMainVm(pk: number): void { this.deleteObject(null, 'vm', pk); }
  addMainVirtualDisk(data: VirtualDiskInput): StoredObject { return this.createObject(null, 'disk', data); }
  addMainInterface(data: VmInterfaceInput): StoredObject { return this.createObject(null, 'interface', data); }

  // -------------------------------------------------------------------------------------------------------------
  // Branch lifecycle

  private event(branch: BranchRecord, type: BranchEventType, userId: number | null): BranchEventRecord {
    const ev = { id: this.nextId('branchevent'), branchId: branch.id, type, userId, timeUs: this.clock.now() };
    this.events.push(ev);
    return ev;
  }

  private requireUser(username: string | undefined, field: string): UserRecord {
    const user = username === undefined ? [...this.users.values()].sort((a, b) => a.id - b.id)[0] : this.userByName(username);
    if (!user) throw new SimulatorError(400, { [field]: [`Unknown user: ${String(username)}`] });
    return user;
  }

  /** A provisioned branch: status `ready`, a random 8-character schema_id and a `provisioned` event. */
  createBranch(input: CreateBranchInput): BranchRecord {
    if (!input.name) throw new SimulatorError(400, { name: ['This field is required.'] });
    if ([...this.branches.values()].some((b) => b.name === input.name)) throw new SimulatorError(400, { name: ['Branch with this Name already exists.'] });
    const schemaId = input.schemaId ?? this.randomSchemaId();
    if (!/^[a-z0-9]{8}$/.test(schemaId) || this.branchBySchemaId(schemaId)) throw new SimulatorError(400, { schema_id: ['Invalid or duplicate schema ID.'] });
    const owner = this.requireUser(input.owner, 'owner');
    const now = this.clock.now();
    const customFields: Record<string, unknown> = {};
    for (const cf of this.customFieldsFor('netbox_branching.branch')) customFields[cf.name] = null;
    const branch: BranchRecord = {
      id: this.nextId('branch', input.id), name: input.name, description: input.description ?? '', comments: input.comments ?? '',
      schemaId, status: 'ready', ownerId: owner.id, lastSyncUs: null, mergedTimeUs: null, mergedById: null, mergeStrategy: null,
      appliedMigrations: [], tags: [], customFields: { ...customFields, ...input.customFields }, createdUs: now, lastUpdatedUs: now,
      overlay: new Map(), diffs: new Map(), lastMergedMs: null, mergeSnapshot: null,
    };
    if (this.branches.has(branch.id)) throw new SimulatorError(400, { id: [`branch ${branch.id} already exists`] });
    this.branches.set(branch.id, branch);
    branch.lastSyncUs = this.clock.now();
    branch.lastUpdatedUs = branch.lastSyncUs;
    this.event(branch, 'provisioned', owner.id);
    return branch;
  }

  private randomSchemaId(): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    for (;;) {
      const id = [...randomBytes(8)].map((b) => alphabet[b % alphabet.length]).join('');
      if (!this.branchBySchemaId(id)) return id;
    }
  }

  updateBranch(id: number, patch: { name?: string; description?: string; comments?: string; customFields?: Record<string, unknown> }): BranchRecord {
    const b = this.branch(id);
    if (patch.name !== undefined) b.name = patch.name;
    if (patch.description !== undefined) b.description = patch.description;
    if (patch.comments !== undefined) b.comments = patch.comments;
    if (patch.customFields) b.customFields = { ...b.customFields, ...patch.customFields };
    b.lastUpdatedUs = this.clock.now();
    return b;
  }

  /** Forces a status, for example `failed` or `merging`, without any side effect. */
  setBranchStatus(id: number, status: BranchStatus): BranchRecord {
    const b = this.branch(id);
    b.status = status;
    b.lastUpdatedUs = this.clock.now();
    return b;
  }

  /** Deleting a branch deletes its ChangeDiffs and events (cascade). */
  deleteBranch(id: number): void {
    this.branch(id);
    this.branches.delete(id);
    for (let i = this.events.length - 1; i >= 0; i--) if (this.events[i]!.branchId === id) this.events.splice(i, 1);
  }

  /**
   * Applies the branch's net changes to main (creates keep their pk), sets `merged`, `merged_time` and `merged_by`,
   * records the `merged` event, then fires `branch_merged` to every webhook target (unless nothing changed).
   */
  async mergeBranch(branchId: number, username: string): Promise<MergeOutcome> {
    const branch = this.branch(branchId);
    if (branch.status !== 'ready') throw new SimulatorError(409, { detail: `Branch ${branch.name} cannot be merged: its status is ${branch.status}.` });
    const user = this.requireUser(username, 'username');
    const snapshot = new Map<string, StoredObject | undefined>();
    const remember = (k: string) => { if (!snapshot.has(k)) snapshot.set(k, clone(this.main.get(k))); };
    const diffs = [...branch.diffs.values()].sort((a, b) => a.id - b.id);
    const diskVms = new Set<number>(), ifaceVms = new Set<number>();
    const noteChild = (d: DiffRecord, data: ChangeData | null | undefined) => {
      if (d.kind === 'vm' || !data) return;
      (d.kind === 'disk' ? diskVms : ifaceVms).add(data.virtual_machine as number);
    };
    const now = this.clock.now();

    for (const kind of ['vm', 'disk', 'interface'] as const) {
      for (const d of diffs.filter((x) => x.kind === kind && x.action !== 'delete' && x.modified !== null)) {
        const k = key(kind, d.objectId);
        remember(k);
        const prev = this.main.get(k);
        if (d.action === 'create') {
          const createdUs = branch.overlay.get(k)?.createdUs ?? now;
          this.main.set(k, { kind, pk: d.objectId, data: clone(d.modified!), createdUs, lastUpdatedUs: now });
        } else if (prev) {
          this.main.set(k, { ...prev, data: applyAlteredFields(prev.data, d.original ?? {}, d.modified!), lastUpdatedUs: now });
        }
        noteChild(d, prev?.data);
        noteChild(d, d.modified);
      }
    }
    for (const kind of ['interface', 'disk', 'vm'] as const) {
      for (const d of diffs.filter((x) => x.kind === kind && x.action === 'delete')) {
        const k = key(kind, d.objectId);
        remember(k);
        noteChild(d, this.main.get(k)?.data);
        this.main.delete(k);
      }
    }
    const mainView = this.view(null);
    for (const vmPk of new Set([...diskVms, ...ifaceVms])) {
      remember(key('vm', vmPk));
      this.refreshAggregates(mainView, vmPk, diskVms.has(vmPk));
    }

    let mergedUs = this.clock.now();
    if (branch.lastMergedMs !== null && Math.floor(mergedUs / 1000) <= branch.lastMergedMs) {
      // A merge after a revert must give a new run identity even within the same millisecond.
      this.clock.advanceTo((branch.lastMergedMs + 1) * 1000);
      mergedUs = this.clock.now();
    }
    branch.status = 'merged';
    branch.mergedTimeUs = mergedUs;
    branch.mergedById = user.id;
    branch.mergeStrategy = 'iterative';
    branch.lastMergedMs = Math.floor(mergedUs / 1000);
    branch.mergeSnapshot = snapshot;
    branch.lastUpdatedUs = this.clock.now();
    this.event(branch, 'merged', user.id);

    if (branch.diffs.size === 0) return { branch, deliveries: [] };
    const timestampUs = this.clock.now();
    const deliveries = await this.webhooks.emit(branch.id, 'branch_merged', (target) => this.branchMergedBody(branch, user.username, timestampUs, target));
    return { branch, deliveries };
  }

  /** Undoes the last merge in main; the branch is `ready` again and can be merged again. */
  revertBranch(branchId: number, username?: string): BranchRecord {
    const branch = this.branch(branchId);
    if (branch.status !== 'merged') throw new SimulatorError(409, { detail: `Branch ${branch.name} cannot be reverted: its status is ${branch.status}.` });
    const user = username === undefined ? null : this.requireUser(username, 'username');
    for (const [k, obj] of branch.mergeSnapshot ?? []) {
      if (obj) this.main.set(k, clone(obj)); else this.main.delete(k);
    }
    branch.mergeSnapshot = null;
    branch.status = 'ready';
    branch.mergedTimeUs = null;
    branch.mergedById = null;
    branch.mergeStrategy = null;
    branch.lastUpdatedUs = this.clock.now();
    this.event(branch, 'reverted', user?.id ?? null);
    for (const [k, diff] of branch.diffs) diff.current = clone(this.main.get(k)?.data ?? null);
    return branch;
  }

  /** Requires `merged`; drops the branch schema but keeps the ChangeDiffs, merged_time and last_updated. */
  archiveBranch(branchId: number, username?: string): BranchRecord {
    const branch = this.branch(branchId);
    if (branch.status !== 'merged') throw new SimulatorError(409, { detail: `Branch ${branch.name} cannot be archived: its status is ${branch.status}.` });
    const user = username === undefined ? null : this.requireUser(username, 'username');
    branch.status = 'archived';
    branch.overlay.clear();
    this.event(branch, 'archived', user?.id ?? null);
    return branch;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Change-data representation of a branch (webhook `data`)

  branchChangeData(b: BranchRecord): Record<string, unknown> {
    const t = (us: number | null) => (us === null ? null : changeDataTime(us));
    return {
      name: b.name, owner: b.ownerId, description: b.description, comments: b.comments, schema_id: b.schemaId,
      status: b.status, applied_migrations: [...b.appliedMigrations], last_sync: t(b.lastSyncUs),
      merged_time: t(b.mergedTimeUs), merged_by: b.mergedById, merge_strategy: b.mergeStrategy,
      created: t(b.createdUs), last_updated: t(b.lastUpdatedUs), custom_fields: clone(b.customFields),
      tags: [...b.tags].sort(), id: b.id,
    };
  }

  /** The netbox.md §5 / §9.3 context; null when the target's condition (`onlyOptedIn`) does not match. */
  branchMergedBody(b: BranchRecord, username: string | null, timestampUs: number, target?: WebhookTarget): Record<string, unknown> | null {
    if (target?.onlyOptedIn && b.customFields.apply_to_proxmox !== true) return null;
    const body: Record<string, unknown> = { event: 'branch_merged', timestamp: pythonIsoformatUtc(timestampUs), object_type: 'netbox_branching.branch' };
    if (this.version === '4.4') body.model = 'branch';
    body.username = username;
    body.request_id = null;
    body.data = { ...this.branchChangeData(b), ...target?.actionData };
    return body;
  }
}

/** Replays an update onto main's current object: only the fields the branch altered (custom fields key by key). */
function applyAlteredFields(current: ChangeData, original: ChangeData, modified: ChangeData): ChangeData {
  const out = clone(current);
  for (const k of new Set([...Object.keys(original), ...Object.keys(modified)])) {
    if (k === 'custom_fields') {
      const o = (original.custom_fields ?? {}) as Record<string, unknown>;
      const m = (modified.custom_fields ?? {}) as Record<string, unknown>;
      const cf = { ...(out.custom_fields as Record<string, unknown> | undefined) };
      for (const name of new Set([...Object.keys(o), ...Object.keys(m)])) if (!deepEqual(o[name], m[name])) cf[name] = clone(m[name]);
      out.custom_fields = cf;
    } else if (!deepEqual(original[k], modified[k])) {
      out[k] = clone(modified[k]);
    }
  }
  return out;
}
