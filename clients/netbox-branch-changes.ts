import { OBJECT_TYPE, type Branch, type ChangeDiff, type VirtualMachine, type VmChangeData } from '../contracts/netbox';
import type { NetboxClient } from './netbox';
import { interfaceOnlyVmIds, referencedLookups, type ChangePlannerLookups } from '../domain/change-planner';
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
  const merged = branch.status.value === 'merged' || branch.status.value === 'archived';
  const schema = merged ? undefined : branch.schema_id;
  const created = new Set(vmDiffs.filter((d) => d.action.value === 'create').map((d) => d.object_id));
  const deleted = new Set(vmDiffs.filter((d) => d.action.value === 'delete').map((d) => d.object_id));
  const withDiff = new Set(vmDiffs.map((d) => d.object_id));
  const onlyIds = interfaceOnlyVmIds(nicDiffs, withDiff);
  const updatedWithNics = [...new Set(nicDiffs.map((d) => (d.modified_data ?? d.original_data)?.['virtual_machine']))]
    .filter((id): id is number => typeof id === 'number' && !created.has(id) && !deleted.has(id));
  const refs = interfaceReferences(nicDiffs);
  const [onlyVms, rows, macs, vlans] = await Promise.all([
    netbox.virtualMachines(onlyIds, schema),
    netbox.vmInterfaces(updatedWithNics, schema),
    netbox.macAddresses(refs.macAddressIds, schema),
    netbox.vlans(refs.vlanIds, schema),
  ]);
  const interfaceOnlyVms = new Map(onlyVms.map((v) => [v.id, asChangeData(v)]));
  const kindRefs = referencedLookups([...vmDiffs], [...interfaceOnlyVms.values()]);
  const [roles, vmTypes] = await Promise.all([
    lookupAll(kindRefs.roleIds, (id) => netbox.deviceRole(id)),
    lookupAll(kindRefs.vmTypeIds, (id) => netbox.virtualMachineType(id)),
  ]);
  const interfaceNames = new Map<number, string[]>();
  for (const r of rows) interfaceNames.set(r.virtual_machine.id, [...interfaceNames.get(r.virtual_machine.id) ?? [], r.name]);
  return {
    vmDiffs, diskDiffs, nicDiffs,
    lookups: {
      roles, vmTypes, interfaceNames, interfaceOnlyVms,
      macAddresses: new Map(macs.map((m) => [m.id, m.mac_address])),
      vlanVids: new Map(vlans.map((v) => [v.id, v.vid])),
    },
  };
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
