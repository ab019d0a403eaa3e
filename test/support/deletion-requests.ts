import { signDecision, type DeletionDecision, type SignedDeletionDecision } from '../../domain/approval-signature';
import { DEMO } from '../../simulators/netbox';
import { eventually, type Stack } from './stack';

/** The signing secret startStack configures; tests use it to play the API's part in decisions sent straight to Temporal. */
export const E2E_APPROVAL_SECRET = 'e2e-approval-signing-secret-0123';

export interface GuestSpec {
  vmid: number; name: string; node: 'pve01' | 'pve02'; kind: 'qemu' | 'lxc';
  /** More custom fields on the VM (they must exist in the simulated NetBox). */
  customFields?: Record<string, unknown>;
}

/** A DeletionRequest as the API shows it (typed loosely: the tests assert its fields). */
export type RequestView = Record<string, any> & { id: number; workflowId: string; state: string; vmid: number };

/**
 * The real path to a pending DeletionRequest: a guest that exists in NetBox and on the cluster, a branch that deletes
 * it (opted in, destroy confirmed), merged by `mergedBy`; waits for the apply job and, unless told not to, for the
 * request to be pending with the guest tagged.
 */
export async function requestDeletion(s: Stack, guest: GuestSpec, opts: { mergedBy?: string; waitForTag?: boolean } = {}):
  Promise<{ request: RequestView; branchId: number; jobId: string }> {
  const vm = s.netbox.addMainVm({
    name: guest.name, cluster: DEMO.clusterId, role: guest.kind === 'qemu' ? DEMO.roles.qemu : DEMO.roles.lxc, vcpus: '1.00', memory: 512,
    custom_fields: { proxmox_vm_id: guest.vmid, proxmox_vm_type: guest.kind, proxmox_node: guest.node, proxmox_storage: 'local-lvm', ...guest.customFields },
    tags: [],
  });
  s.proxbox.cluster.addGuest({ endpointId: 1, vmid: guest.vmid, node: guest.node, type: guest.kind, name: guest.name, status: 'stopped', cores: 1, memory: 512 });
  const branch = s.netbox.createBranch({
    name: `retire-${guest.name}`, owner: 'bob', customFields: { apply_to_proxmox: true, apply_destroy_confirmed: true },
  });
  s.netbox.deleteVm(branch.id, vm.pk);
  await s.netbox.mergeBranch(branch.id, opts.mergedBy ?? 'alice');
  const request = await eventually(async () => {
    const items = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests?branchId=${branch.id}`)).body.items as RequestView[];
    const r = items[0];
    if (!r) return undefined;
    return opts.waitForTag === false || (r.state === 'pending' && r.taggedPendingDeletion) ? r : undefined;
  }, `the deletion request for ${guest.kind} ${guest.vmid}`);
  return { request, branchId: branch.id, jobId: request.applyJobId };
}

export async function getRequest(s: Stack, id: number): Promise<RequestView> {
  return (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${id}`)).body;
}

/** Waits until the request reaches one of `states` and returns it. */
export function settled(s: Stack, id: number, states: readonly string[] = ['succeeded', 'failed', 'rejected', 'expired']): Promise<RequestView> {
  return eventually(async () => {
    const r = await getRequest(s, id);
    return states.includes(r.state) ? r : undefined;
  }, `deletion request ${id} to reach ${states.join('|')}`);
}

/** A decision exactly as our API would sign it, for tests that talk to Temporal directly. */
export function apiSignedDecision(request: RequestView, over: Partial<DeletionDecision> = {}, secret = E2E_APPROVAL_SECRET): SignedDeletionDecision {
  return signDecision(secret, {
    requestId: request.id, workflowId: request.workflowId, action: 'approve', actor: 'bob', typedVmid: request.vmid,
    issuedAt: new Date().toISOString(), nonce: `test-${Math.random().toString(36).slice(2, 12)}`, ...over,
  });
}

/** proxbox-api calls that concern one vmid (tag, untag, register, approve, execute). */
export function callsFor(s: Stack, method: string, path: RegExp, vmid: number) {
  return s.proxbox.control.callsTo(method, path).filter((c) => (c.body as { vmid?: number } | null)?.vmid === vmid);
}

export const REGISTER = /^\/intent\/deletion-requests$/;
export const BACKEND_APPROVE = /^\/intent\/deletion-requests\/\d+\/approve$/;
export const EXECUTE = /^\/intent\/deletion-requests\/\d+\/execute$/;
export const UNTAG = /^\/intent\/untag-pending-deletion$/;
