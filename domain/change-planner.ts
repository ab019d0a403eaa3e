/**
 * The change planner: what each VM ChangeDiff of a merged branch means for Proxmox (create, update or delete, the
 * payload for proxbox-api, local findings). Used by the apply (its work list) and by the merge validator
 * (domain/merge-validation.ts), which is a different thing: a read-only verdict before the merge.
 */
import {
  OBJECT_TYPE, VirtualDiskChangeData, VmChangeData, type ChangeDiff, type VmCustomFields,
} from '../contracts/netbox';
import type { z } from 'zod';
import type { CloudInitPayload as CloudInitSchema, IndexedItem, LxcIntentPayload as LxcSchema, QemuIntentPayload as QemuSchema } from '../contracts/proxbox-api';
import { detectGuestKind, type GuestKind, type NamedRef } from './guest-kind';
import type { IntentOp } from './permissions';
import type { PlanFindingReason } from './result-reasons';
import { BRIDGE_CUSTOM_FIELD, plannedNics, type InterfaceLookups, type NicSources } from './nics';

/** What we send: the schemas' input side (defaults such as `disks: []` stay optional). */
export type QemuIntentPayload = z.input<typeof QemuSchema>;
export type LxcIntentPayload = z.input<typeof LxcSchema>;
export type CloudInitPayload = z.input<typeof CloudInitSchema>;

export type Severity = 'blocked' | 'warning';
export interface Finding { severity: Severity; reason: PlanFindingReason; message: string }

export interface DeletionSnapshot {
  vmid: number; node: string; kind: GuestKind; name: string;
  cores: number | null; memoryMib: number | null; cluster: number | null;
  disks: { name: string; sizeMb: number | null }[];
  interfaces: { name: string; enabled: boolean | null; mtu: number | null }[];
  addresses: { primaryIp4: number | null; primaryIp6: number | null };
  tags: string[];
  /** Only the custom fields of SNAPSHOT_CUSTOM_FIELDS (see there). */
  customFields: Partial<Record<SnapshotCustomField, unknown>>;
}

/**
 * The custom fields a deletion snapshot keeps (netbox.md §7.2, §8.3): what identifies the guest (VMID, kind, node,
 * endpoint hint) and what re-creating it would need (storage, ISO, template, rootfs, swap). The snapshot is stored in
 * PostgreSQL, travels through Temporal histories and is shown by `GET /deletion-requests`, so nothing else goes in:
 * no cloud-init field (user-data, network, user and keys are where credentials live), no stamp, and no custom field
 * we do not know, whatever it holds.
 */
export const SNAPSHOT_CUSTOM_FIELDS = [
  'proxmox_vm_id', 'proxmox_vm_type', 'proxmox_node', 'proxmox_endpoint_id',
  'proxmox_storage', 'proxmox_iso', 'proxmox_ostemplate', 'proxmox_template_vmid', 'proxmox_rootfs', 'proxmox_swap',
] as const;
export type SnapshotCustomField = typeof SNAPSHOT_CUSTOM_FIELDS[number];

export function snapshotCustomFields(cf: Readonly<Record<string, unknown>>): DeletionSnapshot['customFields'] {
  return Object.fromEntries(SNAPSHOT_CUSTOM_FIELDS.filter((k) => cf[k] != null).map((k) => [k, cf[k]]));
}

/** One VM ChangeDiff turned into the work it means (netbox.md §8), with the local pre-flight findings. */
export interface PlannedChange {
  key: string;
  changeDiffId: number;
  netboxId: number;
  name: string;
  op: IntentOp;
  kind: GuestKind;
  vmid: number | null;
  node: string | null;
  clusterId: number | null;
  /** create/update: the proxbox-api payload (an update carries only changed fields plus vmid and node). */
  payload: QemuIntentPayload | LxcIntentPayload | null;
  deletion: DeletionSnapshot | null;
  /** An update whose desired state equals the pre-change data: nothing to send. */
  noop: boolean;
  /** A create that was deleted again inside the branch: it never reached main. */
  vanished: boolean;
  findings: Finding[];
}

export interface ChangePlannerLookups extends InterfaceLookups {
  roles: ReadonlyMap<number, NamedRef>;
  vmTypes: ReadonlyMap<number, NamedRef>;
  /** Names of the interfaces each existing VM has in NetBox, by VM pk (NIC keys of an update count them). */
  interfaceNames?: ReadonlyMap<number, readonly string[]>;
  /** VMs whose interfaces changed in the branch without a VM ChangeDiff, in change-data form, by pk. */
  interfaceOnlyVms?: ReadonlyMap<number, VmChangeData>;
}

/** What our endpoint settings add to a VM's NICs: the endpoint that serves its cluster and its default bridge. */
export type EndpointBridgeOf = (clusterId: number | null) => { name: string; defaultBridge: string | null } | null;

export interface ChangePlannerOptions { warnPlaintextPassword: boolean; endpointOf?: EndpointBridgeOf }

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const TAG = /^[a-z0-9_][a-z0-9_+.-]*$/;
const QEMU_DISK_KEY = /^(scsi|virtio|sata|ide)\d+$/;
const SNIPPET_REF = /^(user|network|vendor|meta)=[^\s:]+:snippets\/\S+$/;

export const changeKey = (netboxId: number) => `vm-${netboxId}`;

/** Role and VM-type ids the plan needs resolved before kind detection (of VM diffs, and of VMs read otherwise). */
export function referencedLookups(diffs: readonly ChangeDiff[], vms: readonly VmChangeData[] = []): { roleIds: number[]; vmTypeIds: number[] } {
  const roles = new Set<number>(), types = new Set<number>();
  const note = (vm: VmChangeData) => {
    if (vm.role != null) roles.add(vm.role);
    if (vm.virtual_machine_type != null) types.add(vm.virtual_machine_type);
  };
  for (const d of diffs) {
    for (const data of [d.modified_data, d.original_data]) {
      const vm = data ? VmChangeData.safeParse(data) : undefined;
      if (vm?.success) note(vm.data);
    }
  }
  vms.forEach(note);
  return { roleIds: [...roles].sort((a, b) => a - b), vmTypeIds: [...types].sort((a, b) => a - b) };
}

/**
 * Turns a branch's ChangeDiffs (VMs, virtual disks, interfaces) into planned changes, ordered by NetBox id so every
 * run of the same branch does the same work in the same order. The whole branch at once: the merge validator's view.
 * The apply plans the same way a page at a time (`planPage` with a `BranchIndex` built over every page).
 */
export function planChanges(
  vmDiffs: readonly ChangeDiff[], diskDiffs: readonly ChangeDiff[], interfaceDiffs: readonly ChangeDiff[],
  lookups: ChangePlannerLookups, opts: ChangePlannerOptions,
): PlannedChange[] {
  const index = new BranchIndexBuilder();
  index.addVmDiffs(vmDiffs);
  const onlyIds = interfaceOnlyVmIds(interfaceDiffs, index.vmsWithDiff);
  index.addInterfaceOnlyVms(onlyIds, lookups.interfaceOnlyVms ?? new Map());
  return planPage({ vmDiffs, diskDiffs, interfaceDiffs, interfaceOnlyVmIds: onlyIds }, lookups, opts, index.build());
}

/**
 * What planning one page needs to know about the rest of the branch, kept small whatever the branch's size: which VMs
 * have a VM ChangeDiff (the others whose interfaces changed are planned from their interfaces) and the VMIDs that
 * more than one VM of the branch uses.
 */
export interface BranchIndex {
  vmsWithDiff: ReadonlySet<number>;
  /** VMIDs used by more than one VM, with those VMs in planning order (VM diffs as read, then VMs changed only through their interfaces). */
  sharedVmids: ReadonlyMap<number, readonly VmidUser[]>;
}

export interface VmidUser { netboxId: number; name: string }

/** Builds the BranchIndex from the branch's VM ChangeDiffs and interface-only VMs, fed a page at a time in planning order. */
export class BranchIndexBuilder {
  readonly vmsWithDiff = new Set<number>();
  private readonly users = new Map<number, VmidUser | VmidUser[]>();

  addVmDiffs(diffs: readonly ChangeDiff[]): void {
    for (const d of diffs) {
      if (d.object_type !== OBJECT_TYPE.virtualMachine || this.vmsWithDiff.has(d.object_id)) continue;
      this.vmsWithDiff.add(d.object_id);
      if (d.action.value === 'create' && d.modified_data === null) continue;
      const vm = VmChangeData.safeParse(d.modified_data ?? d.original_data ?? {});
      if (vm.success) this.note(vm.data, d.object_id);
    }
  }

  addInterfaceOnlyVms(vmIds: readonly number[], vms: ReadonlyMap<number, VmChangeData>): void {
    for (const id of vmIds) {
      const vm = vms.get(id);
      if (vm) this.note(vm, id);
    }
  }

  build(): BranchIndex {
    const shared = new Map<number, readonly VmidUser[]>();
    for (const [vmid, users] of this.users) if (Array.isArray(users)) shared.set(vmid, users);
    return { vmsWithDiff: this.vmsWithDiff, sharedVmids: shared };
  }

  private note(vm: VmChangeData, netboxId: number): void {
    const vmid = vm.custom_fields?.proxmox_vm_id ?? null;
    if (vmid === null) return;
    const user = { netboxId, name: vm.name };
    const earlier = this.users.get(vmid);
    if (earlier === undefined) this.users.set(vmid, user);
    else if (Array.isArray(earlier)) earlier.push(user);
    else this.users.set(vmid, [earlier, user]);
  }
}

/** One page of a branch to plan: its VM diffs, the disk and interface diffs of those VMs, and VMs changed only through their interfaces. */
export interface PlannerPage {
  vmDiffs: readonly ChangeDiff[];
  diskDiffs: readonly ChangeDiff[];
  interfaceDiffs: readonly ChangeDiff[];
  interfaceOnlyVmIds: readonly number[];
}

/** Plans one page of a branch (ordered by NetBox id within the page); what needs the whole branch comes from `index`. */
export function planPage(page: PlannerPage, lookups: ChangePlannerLookups, opts: ChangePlannerOptions, index: BranchIndex): PlannedChange[] {
  const vms = page.vmDiffs.filter((d) => d.object_type === OBJECT_TYPE.virtualMachine);
  const disksOf = childrenByVm(page.diskDiffs);
  const nicsOf = childrenByVm(page.interfaceDiffs);
  const planned = vms.map((d) => planOne(d, disksOf.get(d.object_id) ?? [], nicsOf.get(d.object_id) ?? [], lookups, opts));
  for (const vmId of page.interfaceOnlyVmIds) {
    const nics = nicsOf.get(vmId) ?? [];
    if (nics.length > 0) planned.push(planInterfaceOnly(vmId, nics, lookups, opts));
  }
  flagDuplicateVmids(planned, index.sharedVmids);
  return planned.sort((a, b) => a.netboxId - b.netboxId);
}

/** VMs whose interfaces changed in the branch while the VM itself has no ChangeDiff (an update of their NICs). */
export function interfaceOnlyVmIds(interfaceDiffs: readonly ChangeDiff[], vmsWithDiff: ReadonlySet<number>): number[] {
  const ids = new Set<number>();
  for (const d of interfaceDiffs) {
    const vm = (d.modified_data ?? d.original_data)?.['virtual_machine'];
    if (typeof vm === 'number' && !vmsWithDiff.has(vm)) ids.add(vm);
  }
  return [...ids].sort((a, b) => a - b);
}

/** Disk or interface diffs by the VM they belong to (`virtual_machine` in their data), in the order given. */
function childrenByVm(diffs: readonly ChangeDiff[]): Map<number, ChangeDiff[]> {
  const out = new Map<number, ChangeDiff[]>();
  for (const d of diffs) {
    const vm = (d.modified_data ?? d.original_data)?.['virtual_machine'];
    if (typeof vm !== 'number') continue;
    const list = out.get(vm);
    if (list) list.push(d);
    else out.set(vm, [d]);
  }
  return out;
}

function planOne(d: ChangeDiff, disks: ChangeDiff[], nics: ChangeDiff[], lookups: ChangePlannerLookups, opts: ChangePlannerOptions): PlannedChange {
  const op = d.action.value;
  const findings: Finding[] = [];
  const dataForKind = d.modified_data ?? d.original_data ?? {};
  const vmParsed = VmChangeData.safeParse(dataForKind);
  const base = {
    key: changeKey(d.object_id), changeDiffId: d.id, netboxId: d.object_id, op,
    payload: null, deletion: null, noop: false, vanished: false, findings,
  };
  if (op === 'create' && d.modified_data === null) {
    return { ...base, name: d.object_repr, kind: 'qemu', vmid: null, node: null, clusterId: null, vanished: true };
  }
  if (!vmParsed.success) {
    findings.push({ severity: 'blocked', reason: 'invalid_change_data', message: `ChangeDiff ${d.id} does not hold VirtualMachine data` });
    return { ...base, name: d.object_repr, kind: 'qemu', vmid: null, node: null, clusterId: null };
  }
  const vm = vmParsed.data;
  const { detected, kind, vmid, node } = guestIdentity(vm, lookups, findings);
  const common = { ...base, name: vm.name, kind, vmid, node, clusterId: vm.cluster ?? null };

  if (op === 'delete') return { ...common, deletion: deletionSnapshot(d, vm, kind, disks, nics, findings) };
  if (!DNS_NAME.test(vm.name)) findings.push({ severity: 'blocked', reason: 'invalid_name', message: `name '${vm.name}' is not a DNS name` });
  if (op === 'create' && !detected.explicit) {
    findings.push({ severity: 'warning', reason: 'kind_guessed', message: 'No proxmox_vm_type, role or VM type marks the kind; creating a QEMU VM' });
  }
  const desired = desiredState(vm, kind, disks, findings, opts, op === 'create');
  desired.nics = nicsFor(d.object_id, vm, kind, nics, lookups, opts, findings, op === 'create');
  if (op === 'create') {
    return { ...common, payload: vmid !== null && node !== null ? toPayload(kind, vmid, node, desired, true) : null };
  }
  return planUpdate(d, common, kind, vmid, node, desired, disks, findings, opts);
}

/** Kind, VMID and node of a VM's data; a missing VMID or node blocks it. */
function guestIdentity(vm: VmChangeData, lookups: ChangePlannerLookups, findings: Finding[]) {
  const cf = vm.custom_fields ?? {};
  const detected = detectGuestKind({
    proxmoxVmType: cf.proxmox_vm_type,
    role: vm.role != null ? lookups.roles.get(vm.role) : null,
    virtualMachineType: vm.virtual_machine_type != null ? lookups.vmTypes.get(vm.virtual_machine_type) : null,
  });
  const vmid = cf.proxmox_vm_id ?? null;
  const node = cf.proxmox_node?.trim() || null;
  if (vmid === null) findings.push({ severity: 'blocked', reason: 'vmid_missing', message: 'proxmox_vm_id is required: v1 does not invent VMIDs' });
  if (node === null) findings.push({ severity: 'blocked', reason: 'node_missing', message: 'proxmox_node is required' });
  return { detected, kind: detected.kind, vmid, node };
}

interface DesiredState {
  name: string; cores: number | null; memoryMib: number | null; tags: string[];
  disks: IndexedItem[]; storage: string | null; ostemplate: string | null; cloudInit: CloudInitPayload | null;
  /** create: every interface; update: those the branch created or changed. */
  nics: IndexedItem[];
}

/** The VM's NICs from its interface ChangeDiffs (domain/nics.ts); an interface that cannot be mapped blocks the VM. */
function nicsFor(vmId: number, vm: VmChangeData, kind: GuestKind, ifaceDiffs: ChangeDiff[], lookups: ChangePlannerLookups, opts: ChangePlannerOptions, findings: Finding[], isCreate: boolean): IndexedItem[] {
  if (ifaceDiffs.length === 0) return [];
  const endpoint = opts.endpointOf?.(vm.cluster ?? null) ?? null;
  const src: NicSources = {
    kind, vmBridge: vm.custom_fields?.[BRIDGE_CUSTOM_FIELD]?.trim() || null,
    endpointBridge: endpoint?.defaultBridge ?? null, endpointName: endpoint?.name ?? null,
  };
  const out = plannedNics(ifaceDiffs, isCreate ? [] : lookups.interfaceNames?.get(vmId) ?? [], src, lookups, isCreate);
  for (const message of out.blocked) findings.push({ severity: 'blocked', reason: 'nic_unmappable', message });
  for (const message of out.warnings) findings.push({ severity: 'warning', reason: 'nic_removal_unsupported', message });
  return out.items;
}

/** Interface changes of a VM the branch did not otherwise change: an update that carries only its NICs. */
function planInterfaceOnly(vmId: number, ifaceDiffs: ChangeDiff[], lookups: ChangePlannerLookups, opts: ChangePlannerOptions): PlannedChange {
  const findings: Finding[] = [];
  const first = ifaceDiffs.reduce((a, b) => (a.id <= b.id ? a : b));
  const base = {
    key: changeKey(vmId), changeDiffId: first.id, netboxId: vmId, op: 'update' as const,
    payload: null, deletion: null, noop: false, vanished: false, findings,
  };
  const vm = lookups.interfaceOnlyVms?.get(vmId);
  if (!vm) {
    findings.push({ severity: 'blocked', reason: 'interface_vm_unknown', message: `Interfaces of VM ${vmId} changed, but NetBox has no such VM` });
    return { ...base, name: `VM ${vmId}`, kind: 'qemu', vmid: null, node: null, clusterId: null };
  }
  const { kind, vmid, node } = guestIdentity(vm, lookups, findings);
  const nics = nicsFor(vmId, vm, kind, ifaceDiffs, lookups, opts, findings, false);
  const common = { ...base, name: vm.name, kind, vmid, node, clusterId: vm.cluster ?? null };
  if (vmid === null || node === null) return common;
  if (nics.length === 0) return { ...common, noop: true };
  return { ...common, payload: { vmid, node, nics } as QemuIntentPayload | LxcIntentPayload };
}

function desiredState(vm: VmChangeData, kind: GuestKind, disks: ChangeDiff[], findings: Finding[], opts: ChangePlannerOptions, isCreate: boolean): DesiredState {
  const cf = vm.custom_fields ?? {};
  const storage = cf.proxmox_storage?.trim() || null;
  const tags = (vm.tags ?? []).map((t) => t.toLowerCase());
  for (const t of tags) if (!TAG.test(t)) findings.push({ severity: 'blocked', reason: 'invalid_tag', message: `tag '${t}' is not a valid Proxmox tag` });
  if (cf.proxmox_template_vmid != null) {
    findings.push({ severity: 'blocked', reason: 'template_clone_unsupported', message: 'proxmox_template_vmid is set, but proxbox-api does not implement template clones' });
  }
  if (cf.proxmox_swap != null) findings.push({ severity: 'warning', reason: 'swap_ignored', message: 'proxmox_swap has no proxbox-api field and is ignored' });
  const ostemplate = kind === 'lxc' ? (cf.proxmox_ostemplate?.trim() || cf.proxmox_iso?.trim() || null) : null;
  if (isCreate && kind === 'lxc' && !ostemplate) {
    findings.push({ severity: 'blocked', reason: 'ostemplate_missing', message: 'ostemplate required for LXC create (set proxmox_ostemplate)' });
  }
  return {
    name: vm.name,
    cores: coresOf(vm.vcpus ?? null, findings),
    memoryMib: vm.memory ?? null,
    tags,
    disks: isCreate ? diskItems(vm, kind, storage, disks, findings) : [],
    storage,
    ostemplate,
    cloudInit: kind === 'qemu' ? cloudInitOf(cf, findings, opts) : cloudInitOnLxc(cf, findings),
    nics: [],
  };
}

/** netbox.md §7.5: integer vCPUs only; "1.50" is blocked, never rounded. */
export function coresOf(vcpus: string | null, findings: Finding[]): number | null {
  if (vcpus === null) return null;
  const n = Number(vcpus);
  if (!Number.isInteger(n) || n < 1) {
    findings.push({ severity: 'blocked', reason: 'fractional_vcpus', message: `vcpus ${vcpus} is not a whole number of cores` });
    return null;
  }
  return n;
}

const gib = (mb: number) => Math.max(1, Math.ceil(mb / 1024));

function diskItems(vm: VmChangeData, kind: GuestKind, storage: string | null, diskDiffs: ChangeDiff[], findings: Finding[]): IndexedItem[] {
  const cf = vm.custom_fields ?? {};
  const disks = diskDiffs
    .filter((d) => d.modified_data !== null)
    .map((d) => VirtualDiskChangeData.safeParse(d.modified_data))
    .flatMap((p) => (p.success ? [p.data] : []))
    .sort((a, b) => a.name.localeCompare(b.name));
  const sizes = disks.length > 0 ? disks.map((d) => ({ name: d.name, size: d.size ?? 0 })) : vm.disk ? [{ name: '', size: vm.disk }] : [];
  const items: IndexedItem[] = [];
  if (kind === 'qemu') {
    if (sizes.length > 0 && !storage) findings.push({ severity: 'blocked', reason: 'storage_missing', message: 'proxmox_storage is required to create disks' });
    // Disks named like a Proxmox bus keep their name; the others take the next free scsiN, in name order.
    const taken = new Set(sizes.filter((d) => QEMU_DISK_KEY.test(d.name)).map((d) => d.name));
    let free = 0;
    for (const d of sizes) {
      let key = d.name;
      if (!QEMU_DISK_KEY.test(key)) {
        while (taken.has(`scsi${free}`)) free += 1;
        key = `scsi${free}`;
        taken.add(key);
      }
      items.push({ key, value: `${storage}:${gib(d.size)}` });
    }
    if (cf.proxmox_iso?.trim()) items.push({ key: 'ide2', value: `${cf.proxmox_iso.trim()},media=cdrom` });
    return items;
  }
  const rootfs = cf.proxmox_rootfs?.trim();
  if (rootfs) items.push({ key: 'rootfs', value: /:/.test(rootfs) ? rootfs : `${storage}:${rootfs}` });
  else if (sizes[0]) {
    if (!storage) findings.push({ severity: 'blocked', reason: 'storage_missing', message: 'proxmox_storage is required to create the rootfs' });
    items.push({ key: 'rootfs', value: `${storage}:${gib(sizes[0].size)}` });
  }
  if (sizes.length > (rootfs ? 0 : 1)) {
    findings.push({ severity: 'blocked', reason: 'lxc_mountpoint_policy_missing', message: 'extra LXC disks need a mount path policy, which v1 does not have' });
  }
  return items;
}

function cloudInitOf(cf: VmCustomFields, findings: Finding[], opts: ChangePlannerOptions): CloudInitPayload | null {
  const ci: CloudInitPayload = {};
  if (cf.cloud_init_user?.trim()) ci.user = cf.cloud_init_user.trim();
  const keys = (cf.cloud_init_ssh_keys ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  if (keys.length) ci.ssh_keys = keys;
  const userData = cf.cloud_init_user_data?.trim();
  if (userData) {
    if (/password:/i.test(userData) && opts.warnPlaintextPassword) {
      findings.push({ severity: 'warning', reason: 'plaintext_password', message: 'cloud_init_user_data contains a plaintext password: line' });
    }
    if (SNIPPET_REF.test(userData)) ci.user_data = userData;
    else findings.push({ severity: 'blocked', reason: 'cloud_init_user_data_not_snippet', message: 'cloud_init_user_data must be a snippet reference such as user=local:snippets/vm.yaml' });
  }
  const network = cf.cloud_init_network?.trim();
  if (network) {
    const parsed = parseCloudInitNetwork(network);
    if (parsed) ci.network = parsed;
    else findings.push({ severity: 'blocked', reason: 'cloud_init_network_invalid', message: 'cloud_init_network must be a JSON object ({"ip","cidr","gw"} or {"ipconfig0"}) or ip=...,gw=... text' });
  }
  return Object.keys(ci).length ? ci : null;
}

function cloudInitOnLxc(cf: VmCustomFields, findings: Finding[]): null {
  if (cf.cloud_init_user || cf.cloud_init_ssh_keys || cf.cloud_init_user_data || cf.cloud_init_network) {
    findings.push({ severity: 'warning', reason: 'cloud_init_on_lxc', message: 'cloud-init fields are ignored for LXC containers' });
  }
  return null;
}

/** netbox.md §7.2: a JSON object, or raw `ip=...` text which becomes `{ipconfig0: text}`. null when neither. */
export function parseCloudInitNetwork(text: string): Record<string, unknown> | null {
  if (text.startsWith('{')) {
    try {
      const obj: unknown = JSON.parse(text);
      if (obj && typeof obj === 'object' && !Array.isArray(obj) && ('ip' in obj || 'ipconfig0' in obj)) return obj as Record<string, unknown>;
    } catch { /* fall through: not JSON */ }
    return null;
  }
  return /^ip6?=\S+$/.test(text) ? { ipconfig0: text } : null;
}

function toPayload(kind: GuestKind, vmid: number, node: string, s: DesiredState, isCreate: boolean): QemuIntentPayload | LxcIntentPayload {
  const common = {
    vmid, node,
    ...(s.cores !== null ? { cores: s.cores } : {}),
    ...(s.memoryMib !== null ? { memory_mib: s.memoryMib } : {}),
    ...(isCreate && s.disks.length ? { disks: s.disks } : {}),
    ...(s.nics.length ? { nics: s.nics } : {}),
    ...(s.tags.length || !isCreate ? { tags: s.tags } : {}),
  };
  if (kind === 'qemu') return { ...common, name: s.name, ...(s.cloudInit ? { cloud_init: s.cloudInit } : {}) } as QemuIntentPayload;
  return {
    ...common, hostname: s.name,
    ...(s.ostemplate && isCreate ? { ostemplate: s.ostemplate } : {}),
    ...(s.storage && isCreate ? { storage: s.storage } : {}),
  } as LxcIntentPayload;
}

function planUpdate(
  d: ChangeDiff, common: Omit<PlannedChange, 'payload' | 'deletion'> & { payload: null; deletion: null },
  kind: GuestKind, vmid: number | null, node: string | null, desired: DesiredState, disks: ChangeDiff[], findings: Finding[], opts: ChangePlannerOptions,
): PlannedChange {
  const before = VmChangeData.safeParse(d.original_data ?? {});
  if (!before.success) {
    findings.push({ severity: 'blocked', reason: 'invalid_change_data', message: `ChangeDiff ${d.id} has no usable original_data` });
    return common;
  }
  const orig = before.data;
  const ocf = orig.custom_fields ?? {};
  if ((ocf.proxmox_vm_id ?? null) !== vmid || (ocf.proxmox_node?.trim() || null) !== node) {
    findings.push({ severity: 'blocked', reason: 'identity_change_unsupported', message: 'changing proxmox_vm_id or proxmox_node is a migration or renumbering, which is out of scope' });
  }
  if (disks.length > 0) findings.push({ severity: 'warning', reason: 'disk_change_unsupported', message: 'disk changes are not supported in updates and are not sent' });
  const previous = desiredState(orig, kind, [], [], opts, false);
  if (vmid === null || node === null) return common;
  const delta: Record<string, unknown> = {};
  if (previous.name !== desired.name) delta[kind === 'qemu' ? 'name' : 'hostname'] = desired.name;
  if (previous.cores !== desired.cores && desired.cores !== null) delta.cores = desired.cores;
  if (previous.memoryMib !== desired.memoryMib && desired.memoryMib !== null) delta.memory_mib = desired.memoryMib;
  if (JSON.stringify(previous.tags) !== JSON.stringify(desired.tags)) delta.tags = desired.tags;
  if (kind === 'qemu' && JSON.stringify(previous.cloudInit) !== JSON.stringify(desired.cloudInit) && desired.cloudInit) delta.cloud_init = desired.cloudInit;
  // Compared with live Proxmox at the write (domain/nics.ts nicsToSend), not with the pre-change data.
  if (desired.nics.length) delta.nics = desired.nics;
  if (Object.keys(delta).length === 0) return { ...common, noop: true };
  return { ...common, payload: { vmid, node, ...delta } as QemuIntentPayload | LxcIntentPayload };
}

function deletionSnapshot(d: ChangeDiff, vm: VmChangeData, kind: GuestKind, disks: ChangeDiff[], nics: ChangeDiff[], findings: Finding[]): DeletionSnapshot | null {
  const cf = vm.custom_fields ?? {};
  const vmid = cf.proxmox_vm_id ?? null;
  const node = cf.proxmox_node?.trim() || null;
  if (d.current_data) {
    const cur = VmChangeData.safeParse(d.current_data);
    const ccf = cur.success ? cur.data.custom_fields ?? {} : {};
    if (cur.success && ((ccf.proxmox_vm_id ?? null) !== vmid || (ccf.proxmox_node?.trim() || null) !== node)) {
      findings.push({ severity: 'blocked', reason: 'delete_target_disagrees', message: 'original_data and current_data disagree on the VMID or node; an operator must decide' });
    }
  }
  if (vmid === null || node === null) return null;
  return {
    vmid, node, kind, name: vm.name,
    cores: vm.vcpus != null ? Number(vm.vcpus) : null,
    memoryMib: vm.memory ?? null,
    cluster: vm.cluster ?? null,
    disks: disks.map((x) => x.original_data ?? x.modified_data ?? {}).map((x) => ({ name: String(x['name'] ?? ''), sizeMb: typeof x['size'] === 'number' ? x['size'] : null })),
    interfaces: nics.map((x) => x.original_data ?? x.modified_data ?? {}).map((x) => ({
      name: String(x['name'] ?? ''), enabled: typeof x['enabled'] === 'boolean' ? x['enabled'] : null, mtu: typeof x['mtu'] === 'number' ? x['mtu'] : null,
    })),
    addresses: { primaryIp4: vm.primary_ip4 ?? null, primaryIp6: vm.primary_ip6 ?? null },
    tags: vm.tags ?? [],
    customFields: snapshotCustomFields(cf),
  };
}

/**
 * A VMID that several VMs of the branch use blocks each of them: the first of them (in planning order) names every
 * other, each other names the first.
 */
function flagDuplicateVmids(planned: PlannedChange[], shared: ReadonlyMap<number, readonly VmidUser[]>): void {
  for (const p of planned) {
    if (p.vmid === null || p.vanished) continue;
    const users = shared.get(p.vmid);
    if (!users) continue;
    const [first, ...others] = users;
    const named = first!.netboxId === p.netboxId ? others : [{ netboxId: p.netboxId, name: p.name }];
    for (const other of named) {
      p.findings.push({ severity: 'blocked', reason: 'duplicate_vmid', message: `VMID ${p.vmid} is used by more than one VM in this branch (${first!.name}, ${other.name})` });
    }
  }
}
