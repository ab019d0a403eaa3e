/**
 * How the chaos suite judges a run: every per-VM result the service reports is compared with what the simulated
 * cluster holds once the faults have stopped and the run is final.
 *
 * - applied: a create reported `succeeded` (any reason, `adopted` included) or `accepted` whose guest exists with
 *   our name on our node; a delete whose DeletionRequest `succeeded` and whose guest is gone.
 * - duplicate: a create (or destroy) of a VMID that reached Proxmox more than once, whatever its outcome (the
 *   simulator's log of Proxmox requests; a resend refused with "already exists" counts too).
 * - lost: a VM of the branch with no result once the job is final, or a DELETE without its DeletionRequest.
 * - wrong: a result contradicting the cluster:
 *   create `succeeded`/`accepted` while the guest is absent (or has another name or node); create `failed`,
 *   `blocked`, `cancelled`, `not_implemented` while a guest with our name exists (the service says nothing was
 *   created, yet it was); request `succeeded` while the guest is still listed; request `failed`, `rejected` or
 *   `expired` while the guest is gone, unless its reason is `unknown_outcome` (the service says it does not know).
 * - unknown: `unknown` results and `unknown_outcome` requests: allowed (the service says what to check); reported.
 * - stuck: a job or DeletionRequest not final within the bound after the faults stopped.
 */
import type { GuestView } from '../simulators/proxbox-api';

export interface PlannedVm { vmid: number; node: string; name: string; op: 'create' | 'delete' }

export interface PveRequest { method: string; path: string; params: Record<string, unknown> }

export interface Verdict {
  total: number;
  applied: number;
  duplicates: number;
  lost: number;
  wrong: number;
  unknown: number;
  /** What was neither applied nor unknown but agrees with the cluster (for example a create that failed for good). */
  other: Record<string, number>;
  findings: string[];
}

const NOT_CREATED = new Set(['failed', 'blocked', 'cancelled', 'not_implemented']);
const FINAL_REQUEST = new Set(['succeeded', 'failed', 'rejected', 'expired']);

export function judge(input: {
  vms: readonly PlannedVm[];
  /** The job's perVmResults (null when the job is not final). */
  results: Record<string, { vmid: number; status: string; reason?: string | null }> | null;
  /** DeletionRequests of the branch, by VMID. */
  requests: Map<number, { state: string; reasonCode?: string | null }>;
  guest(vmid: number): GuestView | undefined;
  pveLog: readonly PveRequest[];
}): Verdict {
  const v: Verdict = { total: input.vms.length, applied: 0, duplicates: 0, lost: 0, wrong: 0, unknown: 0, other: {}, findings: [] };
  const byVmid = new Map(Object.values(input.results ?? {}).map((r) => [r.vmid, r]));
  const other = (k: string) => { v.other[k] = (v.other[k] ?? 0) + 1; };
  for (const vm of input.vms) {
    const writes = input.pveLog.filter((e) => vm.op === 'create'
      ? e.method === 'POST' && e.path === `nodes/${vm.node}/qemu` && Number(e.params.vmid) === vm.vmid
      : e.method === 'DELETE' && e.path === `nodes/${vm.node}/qemu/${vm.vmid}`).length;
    if (writes > 1) {
      v.duplicates += writes - 1;
      v.findings.push(`${vm.op} ${vm.vmid} reached Proxmox ${writes} times`);
    }
    const result = byVmid.get(vm.vmid);
    const guest = input.guest(vm.vmid);
    if (!result) {
      v.lost += 1;
      v.findings.push(`${vm.op} ${vm.vmid}: no result`);
      continue;
    }
    if (vm.op === 'create') {
      const ours = !!guest && guest.name === vm.name && guest.node === vm.node;
      if (result.status === 'succeeded' || result.status === 'accepted') {
        if (ours) v.applied += 1;
        else { v.wrong += 1; v.findings.push(`create ${vm.vmid}: ${result.status} but the guest is ${guest ? `${guest.name} on ${guest.node}` : 'absent'}`); }
      } else if (result.status === 'unknown') {
        v.unknown += 1;
      } else if (NOT_CREATED.has(result.status) && guest) {
        v.wrong += 1;
        v.findings.push(`create ${vm.vmid}: ${result.status} (${result.reason ?? ''}) but the guest exists`);
      } else {
        other(`${result.status}${result.reason ? `:${result.reason}` : ''}`);
      }
      continue;
    }
    if (result.status !== 'deletion_requested') {
      if (!guest) { v.wrong += 1; v.findings.push(`delete ${vm.vmid}: ${result.status} but the guest is gone`); } else other(result.status);
      continue;
    }
    const request = input.requests.get(vm.vmid);
    if (!request) { v.lost += 1; v.findings.push(`delete ${vm.vmid}: no deletion request`); continue; }
    if (!FINAL_REQUEST.has(request.state)) continue; // counted as stuck by the caller
    if (request.state === 'succeeded') {
      if (guest) { v.wrong += 1; v.findings.push(`delete ${vm.vmid}: request succeeded but the guest is still listed`); } else v.applied += 1;
    } else if (request.reasonCode === 'unknown_outcome') {
      v.unknown += 1;
    } else if (!guest) {
      v.wrong += 1;
      v.findings.push(`delete ${vm.vmid}: request ${request.state} (${request.reasonCode ?? ''}) but the guest is gone`);
    } else {
      other(`request ${request.state}:${request.reasonCode ?? ''}`);
    }
  }
  return v;
}
