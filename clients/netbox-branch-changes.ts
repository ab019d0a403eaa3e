import { OBJECT_TYPE, type Branch, type ChangeDiff, type VirtualMachine, type VmChangeData } from '../contracts/netbox';
import type { NetboxClient } from './netbox';
import {
  BranchIndexBuilder, interfaceOnlyVmIds, referencedLookups, type BranchIndex, type ChangePlannerLookups, type PlannerPage,
} from '../domain/change-planner';
import type { NamedRef } from '../domain/guest-kind';
import { interfaceReferences } from '../domain/nics';

/** What `planChanges` needs from NetBox for one branch: its VM, disk and interface diffs and the roles and VM types they name. */
export interface BranchChanges {
  vmDiffs: ChangeDiff[];
  diskDiffs: ChangeDiff[];
  nicDiffs: ChangeDiff[];
  lookups: ChangePlannerLookups;
}

/**
 * Reads the ChangeDiffs, then what the interface diffs refer to: MAC addresses and VLANs by pk, the interfaces each
 * updated VM has (their names fix the NIC keys), and VMs changed only through their interfaces. Objects are read as
 * main holds them once the branch is merged, as the branch holds them before (`X-NetBox-Branch`, for the plan).
 */
export async function readBranchChanges(netbox: NetboxClient, branch: Pick<Branch, 'id' | 'schema_id' | 'status'>): Promise<BranchChanges> {
  const [vmDiffs, diskDiffs, nicDiffs] = await Promise.all([
    netbox.changeDiffs(branch.id, OBJECT_TYPE.virtualMachine),
    netbox.changeDiffs(branch.id, OBJECT_TYPE.virtualDisk),
    netbox.changeDiffs(branch.id, OBJECT_TYPE.vmInterface),
  ]);
  const schema = branchView(branch);
  const withDiff = new Set(vmDiffs.map((d) => d.object_id));
  const onlyIds = interfaceOnlyVmIds(nicDiffs, withDiff);
  const [onlyVms, nicLookups] = await Promise.all([
    netbox.virtualMachines(onlyIds, schema),
    interfaceLookups(netbox, schema, nicDiffs, updatedVmIds(vmDiffs, nicDiffs)),
  ]);
  const interfaceOnlyVms = new Map(onlyVms.map((v) => [v.id, asChangeData(v)]));
  const kindRefs = referencedLookups([...vmDiffs], [...interfaceOnlyVms.values()]);
  const [roles, vmTypes] = await Promise.all([
    lookupAll(kindRefs.roleIds, (id) => netbox.deviceRole(id)),
    lookupAll(kindRefs.vmTypeIds, (id) => netbox.virtualMachineType(id)),
  ]);
  return { vmDiffs, diskDiffs, nicDiffs, lookups: { roles, vmTypes, interfaceOnlyVms, ...nicLookups } };
}

/** Objects as main holds them once the branch is merged, as the branch holds them before (`X-NetBox-Branch`, for the plan). */
const branchView = (branch: Pick<Branch, 'schema_id' | 'status'>) =>
  (branch.status.value === 'merged' || branch.status.value === 'archived' ? undefined : branch.schema_id);

/** VMs that exist before the branch (neither created nor deleted by it) and have interface diffs: their NIC keys count their interfaces. */
function updatedVmIds(vmDiffs: readonly ChangeDiff[], nicDiffs: readonly ChangeDiff[]): number[] {
  const createdOrDeleted = new Set(vmDiffs.filter((d) => d.action.value !== 'update').map((d) => d.object_id));
  return [...new Set(nicDiffs.map((d) => (d.modified_data ?? d.original_data)?.['virtual_machine']))]
    .filter((id): id is number => typeof id === 'number' && !createdOrDeleted.has(id));
}

/** What interface diffs refer to: the interfaces each updated VM has (by name), MAC addresses and VLANs by pk. */
async function interfaceLookups(netbox: NetboxClient, schema: string | undefined, nicDiffs: readonly ChangeDiff[], updatedWithNics: readonly number[]) {
  const refs = interfaceReferences([...nicDiffs]);
  const [rows, macs, vlans] = await Promise.all([
    netbox.vmInterfaces(updatedWithNics, schema),
    netbox.macAddresses(refs.macAddressIds, schema),
    netbox.vlans(refs.vlanIds, schema),
  ]);
  const interfaceNames = new Map<number, string[]>();
  for (const r of rows) interfaceNames.set(r.virtual_machine.id, [...interfaceNames.get(r.virtual_machine.id) ?? [], r.name]);
  return {
    interfaceNames,
    macAddresses: new Map(macs.map((m) => [m.id, m.mac_address])),
    vlanVids: new Map(vlans.map((v) => [v.id, v.vid])),
  };
}

/** One page of a branch as the apply plans it, with what its diffs refer to. */
export interface BranchChangePage { page: PlannerPage; lookups: ChangePlannerLookups }

/**
 * A branch's changes for planning a page at a time (the apply: memory stays the same whatever the size of the
 * branch). `indexBranchChanges` reads every ChangeDiff once and keeps only ids (which VMs have a diff, the disk and
 * interface diff ids of each VM, the VMIDs in use, cluster, role and VM-type ids); `pages()` then reads the VM
 * diffs again a page at a time, each with its VMs' disk and interface diffs (by id) and what those refer to, and
 * last the VMs changed only through their interfaces.
 */
export interface BranchChangeReader {
  index: BranchIndex;
  /** The NetBox cluster ids of the branch's VMs (as `clusterIdsOf`). */
  clusterIds: number[];
  pages(): AsyncGenerator<BranchChangePage>;
}

/** VMs read at once when planning those changed only through their interfaces. */
const INTERFACE_ONLY_CHUNK = 500;

export async function indexBranchChanges(netbox: NetboxClient, branch: Pick<Branch, 'id' | 'schema_id' | 'status'>): Promise<BranchChangeReader> {
  const schema = branchView(branch);
  const builder = new BranchIndexBuilder();
  const clusters = new Set<number>();
  const roleIds = new Set<number>();
  const vmTypeIds = new Set<number>();
  const noteKindRefs = (diffs: readonly ChangeDiff[], vms: readonly VmChangeData[]) => {
    const refs = referencedLookups(diffs, vms);
    refs.roleIds.forEach((id) => roleIds.add(id));
    refs.vmTypeIds.forEach((id) => vmTypeIds.add(id));
  };
  const createdOrDeleted = new Set<number>();
  for await (const page of netbox.changeDiffPages(branch.id, OBJECT_TYPE.virtualMachine)) {
    builder.addVmDiffs(page);
    noteKindRefs(page, []);
    for (const d of page) {
      for (const data of [d.modified_data, d.original_data]) if (typeof data?.['cluster'] === 'number') clusters.add(data['cluster']);
      if (d.action.value !== 'update') createdOrDeleted.add(d.object_id);
    }
  }
  const [diskIds, nicIds] = await Promise.all([
    childDiffIds(netbox, branch.id, OBJECT_TYPE.virtualDisk),
    childDiffIds(netbox, branch.id, OBJECT_TYPE.vmInterface),
  ]);
  const onlyIds = [...nicIds.keys()].filter((id) => !builder.vmsWithDiff.has(id)).sort((a, b) => a - b);
  for (let i = 0; i < onlyIds.length; i += INTERFACE_ONLY_CHUNK) {
    const chunk = onlyIds.slice(i, i + INTERFACE_ONLY_CHUNK);
    const vms = new Map((await netbox.virtualMachines(chunk, schema)).map((v) => [v.id, asChangeData(v)]));
    builder.addInterfaceOnlyVms(chunk, vms);
    noteKindRefs([], [...vms.values()]);
    for (const v of vms.values()) if (v.cluster != null) clusters.add(v.cluster);
  }
  const sorted = (ids: Set<number>) => [...ids].sort((a, b) => a - b);
  const [roles, vmTypes] = await Promise.all([
    lookupAll(sorted(roleIds), (id) => netbox.deviceRole(id)),
    lookupAll(sorted(vmTypeIds), (id) => netbox.virtualMachineType(id)),
  ]);
  const childrenOf = (vmIds: readonly number[], index: Map<number, number[]>) => vmIds.flatMap((id) => index.get(id) ?? []);
  const withChildren = async (vmIds: readonly number[]) => Promise.all([
    netbox.changeDiffsByIds(branch.id, OBJECT_TYPE.virtualDisk, childrenOf(vmIds, diskIds)),
    netbox.changeDiffsByIds(branch.id, OBJECT_TYPE.vmInterface, childrenOf(vmIds, nicIds)),
  ]);

  return {
    index: builder.build(),
    clusterIds: sorted(clusters),
    async *pages() {
      // A VM diff a shifted page boundary brings back is planned once.
      const planned = new Set<number>();
      for await (const page of netbox.changeDiffPages(branch.id, OBJECT_TYPE.virtualMachine)) {
        const vmDiffs = page.filter((d) => !planned.has(d.object_id));
        vmDiffs.forEach((d) => planned.add(d.object_id));
        if (vmDiffs.length === 0) continue;
        const [diskDiffs, nicDiffs] = await withChildren(vmDiffs.map((d) => d.object_id));
        const updated = vmDiffs.map((d) => d.object_id).filter((id) => nicIds.has(id) && !createdOrDeleted.has(id));
        const nicLookups = await interfaceLookups(netbox, schema, nicDiffs, updated);
        yield { page: { vmDiffs, diskDiffs, interfaceDiffs: nicDiffs, interfaceOnlyVmIds: [] }, lookups: { roles, vmTypes, ...nicLookups } };
      }
      for (let i = 0; i < onlyIds.length; i += INTERFACE_ONLY_CHUNK) {
        const chunk = onlyIds.slice(i, i + INTERFACE_ONLY_CHUNK);
        const [vms, [, nicDiffs]] = await Promise.all([netbox.virtualMachines(chunk, schema), withChildren(chunk)]);
        const nicLookups = await interfaceLookups(netbox, schema, nicDiffs, chunk);
        yield {
          page: { vmDiffs: [], diskDiffs: [], interfaceDiffs: nicDiffs, interfaceOnlyVmIds: chunk },
          lookups: { roles, vmTypes, interfaceOnlyVms: new Map(vms.map((v) => [v.id, asChangeData(v)])), ...nicLookups },
        };
      }
    },
  };
}

/** The ids of a branch's disk or interface diffs, by the VM they belong to, read a page at a time. */
async function childDiffIds(netbox: NetboxClient, branchId: number, objectType: string): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for await (const page of netbox.changeDiffPages(branchId, objectType)) {
    for (const d of page) {
      const vm = (d.modified_data ?? d.original_data)?.['virtual_machine'];
      if (typeof vm !== 'number') continue;
      const ids = out.get(vm);
      if (ids) ids.push(d.id);
      else out.set(vm, [d.id]);
    }
  }
  return out;
}

/** A VM as REST serves it, in the change-data form the planner reads (netbox.md §1: pks, names, decimal strings). */
function asChangeData(v: VirtualMachine): VmChangeData {
  return {
    name: v.name, cluster: v.cluster?.id ?? null, role: v.role?.id ?? null, virtual_machine_type: v.virtual_machine_type?.id ?? null,
    vcpus: v.vcpus === null ? null : v.vcpus.toFixed(2), memory: v.memory, disk: v.disk,
    custom_fields: v.custom_fields, tags: v.tags.map((t) => t.name),
  };
}

/** The NetBox cluster ids of a branch's VMs (their VM diffs and the VMs changed through their interfaces). */
export function clusterIdsOf(changes: BranchChanges): number[] {
  const ids = new Set<number>();
  for (const d of changes.vmDiffs) for (const data of [d.modified_data, d.original_data]) if (typeof data?.['cluster'] === 'number') ids.add(data['cluster']);
  for (const v of changes.lookups.interfaceOnlyVms?.values() ?? []) if (v.cluster != null) ids.add(v.cluster);
  return [...ids].sort((a, b) => a - b);
}

async function lookupAll(ids: number[], fetchOne: (id: number) => Promise<NamedRef>): Promise<Map<number, NamedRef>> {
  const entries = await Promise.all(ids.map(async (id) => {
    const r = await fetchOne(id);
    return [id, { slug: r.slug, name: r.name }] as const;
  }));
  return new Map(entries);
}

/** NetBox cluster names of these clusters, read only when some endpoint names its clusters (ids need no read). */
export async function clusterNamesFor(netbox: NetboxClient, clusterIds: readonly number[], endpoints: readonly { clusters: string[] }[]): Promise<Map<number, string>> {
  const byName = endpoints.some((e) => e.clusters.some((c) => !/^\d+$/.test(c)));
  const ids = [...new Set(clusterIds)];
  if (!byName || ids.length === 0) return new Map();
  const clusters = await Promise.all(ids.map((id) => netbox.cluster(id)));
  return new Map(clusters.map((c) => [c.id, c.name]));
}
