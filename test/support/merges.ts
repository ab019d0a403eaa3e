import { expect } from 'vitest';
import { applyRunId } from '../../domain/run-identity';
import { DEMO, type BranchRecord } from '../../simulators/netbox';
import { eventually, type Stack } from './stack';

/** A branch (opted in unless told otherwise) that creates one qemu guest on pve01 with the given VMID. */
export function guestBranch(s: Stack, name: string, vmid: number, opts: { optIn?: boolean; vmName?: string } = {}): { branch: BranchRecord; vmid: number } {
  const branch = s.netbox.createBranch({ name, owner: 'bob', customFields: opts.optIn === false ? {} : { apply_to_proxmox: true } });
  s.netbox.createVm(branch.id, {
    name: opts.vmName ?? `${name}-vm`, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512,
    custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
  });
  return { branch, vmid };
}

/** Merges with the webhook delivery lost (at most once), and returns the exact body NetBox would have sent. */
export async function mergeUndelivered(s: Stack, branchId: number): Promise<string> {
  s.netbox.dropNextDeliveries(1);
  const merged = await s.netbox.mergeBranch(branchId, 'alice');
  expect(merged.deliveries.map((d) => d.outcome)).toEqual(['dropped']);
  return merged.deliveries[0]!.body;
}

/** The workflow id of the branch's current merge. */
export function currentRunId(s: Stack, branch: { id: number; schemaId: string }): string {
  return applyRunId(branch.schemaId, s.netbox.branchJson(branch.id).merged_time!);
}

export async function jobsOfBranch(s: Stack, branchId: number): Promise<any[]> {
  return (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branchId}`)).body.items;
}

/** proxbox-api apply calls for one VMID. */
export function appliesTo(s: Stack, vmid: number) {
  return s.proxbox.control.callsTo('POST', '/intent/apply').filter((c) => (c.body as any).diffs[0].payload.vmid === vmid);
}

export function finishedJob(s: Stack, jobId: string): Promise<any> {
  return eventually(async () => {
    const j = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${jobId}`)).body;
    return ['succeeded', 'partial', 'failed'].includes(j.state) ? j : undefined;
  }, `job ${jobId} to finish`);
}

/** Merges the branch as alice and waits for its apply job to finish; the job's detail. */
export async function mergeAndWait(s: Stack, branchId: number, timeoutMs?: number): Promise<any> {
  await s.netbox.mergeBranch(branchId, 'alice');
  return eventually(async () => {
    const item = (await jobsOfBranch(s, branchId))[0];
    if (!item || !['succeeded', 'partial', 'failed'].includes(item.state)) return undefined;
    return (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${item.id}`)).body;
  }, `the apply of branch ${branchId}`, timeoutMs);
}
