import { OBJECT_TYPE, type ChangeDiff } from '../contracts/netbox';
import type { NetboxClient } from './netbox';
import { referencedLookups, type ChangePlannerLookups, type PlannedChange } from '../domain/change-planner';
import type { NamedRef } from '../domain/guest-kind';

/** What `planChanges` needs from NetBox for one branch: its VM, disk and interface diffs and the roles and VM types they name. */
export interface BranchChanges {
  vmDiffs: ChangeDiff[];
  diskDiffs: ChangeDiff[];
  nicDiffs: ChangeDiff[];
  lookups: ChangePlannerLookups;
}

export async function readBranchChanges(netbox: NetboxClient, branchId: number): Promise<BranchChanges> {
  const [vmDiffs, diskDiffs, nicDiffs] = await Promise.all([
    netbox.changeDiffs(branchId, OBJECT_TYPE.virtualMachine),
    netbox.changeDiffs(branchId, OBJECT_TYPE.virtualDisk),
    netbox.changeDiffs(branchId, OBJECT_TYPE.vmInterface),
  ]);
  const refs = referencedLookups(vmDiffs);
  const [roles, vmTypes] = await Promise.all([
    lookupAll(refs.roleIds, (id) => netbox.deviceRole(id)),
    lookupAll(refs.vmTypeIds, (id) => netbox.virtualMachineType(id)),
  ]);
  return { vmDiffs, diskDiffs, nicDiffs, lookups: { roles, vmTypes } };
}

async function lookupAll(ids: number[], fetchOne: (id: number) => Promise<NamedRef>): Promise<Map<number, NamedRef>> {
  const entries = await Promise.all(ids.map(async (id) => {
    const r = await fetchOne(id);
    return [id, { slug: r.slug, name: r.name }] as const;
  }));
  return new Map(entries);
}

/** NetBox cluster names of the planned changes, read only when some endpoint names its clusters (ids need no read). */
export async function clusterNamesFor(netbox: NetboxClient, planned: readonly PlannedChange[], endpoints: readonly { clusters: string[] }[]): Promise<Map<number, string>> {
  const byName = endpoints.some((e) => e.clusters.some((c) => !/^\d+$/.test(c)));
  const ids = [...new Set(planned.map((p) => p.clusterId).filter((x): x is number => x !== null))];
  if (!byName || ids.length === 0) return new Map();
  const clusters = await Promise.all(ids.map((id) => netbox.cluster(id)));
  return new Map(clusters.map((c) => [c.id, c.name]));
}
