/**
 * One run of the chaos suite: a branch of creates (and deletes of guests that exist), merged in NetBox; deletions
 * approved as they appear; then, once the faults have stopped, the wait for every part to be final and the verdict.
 */
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { DEMO } from '../simulators/netbox';
import { NODES, type Harness } from './harness';
import { judge, type PlannedVm, type Verdict } from './verdicts';

export interface Run { label: string; branchId: number; vms: PlannedVm[]; jobId: string | null; stopApprovals(): void }

export interface Outcome extends Verdict { stuck: number; convergeS: number; jobState: string }

export const FINAL_JOB = ['succeeded', 'partial', 'failed'];
const FINAL_REQUEST = ['succeeded', 'failed', 'rejected', 'expired'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Prepares the branch (nothing is merged yet). VMIDs from `firstVmid`; deletes target guests seeded on the cluster. */
function prepareBranch(h: Harness, label: string, creates: number, deletes: number, firstVmid: number): Run {
  const vms: PlannedVm[] = [];
  const doomed: { pk: number }[] = [];
  for (let i = 0; i < deletes; i++) {
    const vmid = firstVmid + creates + i;
    const node = NODES[i % NODES.length]!;
    const name = `${label}-old-${i}`;
    const vm = h.netbox.addMainVm({
      name, cluster: DEMO.clusterId, role: DEMO.roles.qemu, vcpus: '1.00', memory: 512, tags: [],
      custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: node, proxmox_storage: 'local-lvm' },
    });
    h.proxbox.cluster.addGuest({ endpointId: 1, vmid, node, type: 'qemu', name, status: 'stopped', cores: 1, memory: 512 });
    doomed.push({ pk: vm.pk });
    vms.push({ vmid, node, name, op: 'delete' });
  }
  const branch = h.netbox.createBranch({ name: label, owner: 'bob', customFields: { apply_to_proxmox: true, apply_destroy_confirmed: true } });
  for (let i = 0; i < creates; i++) {
    const vmid = firstVmid + i;
    const node = NODES[i % NODES.length]!;
    const name = `${label}-${i}`;
    h.netbox.createVm(branch.id, {
      name, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, tags: [],
      custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: node, proxmox_storage: 'local-lvm' },
    });
    vms.push({ vmid, node, name, op: 'create' });
  }
  for (const d of doomed) h.netbox.deleteVm(branch.id, d.pk);
  return { label, branchId: branch.id, vms, jobId: null, stopApprovals: () => {} };
}

/** A branch of `creates` new VMs and `deletes` deleted ones, named after the fault (`chaos-<fault>-<time>`), merged. */
export async function startRun(h: Harness, fault: string, size: { creates: number; deletes?: number; firstVmid: number }): Promise<Run> {
  const run = prepareBranch(h, `chaos-${fault}-${Date.now().toString(36)}`, size.creates, size.deletes ?? 0, size.firstVmid);
  await merge(h, run);
  return run;
}

/** Merges as alice (the webhook reaches our API) and, in the background, approves each deletion request as bob. */
async function merge(h: Harness, run: Run): Promise<void> {
  await h.netbox.mergeBranch(run.branchId, 'alice');
  let stopped = false;
  run.stopApprovals = () => { stopped = true; };
  const approved = new Set<number>();
  void (async () => {
    while (!stopped) {
      try {
        const items = (await h.call(h.tokens.carol, 'GET', `/api/v1/deletion-requests?branchId=${run.branchId}&limit=500`)).body?.items ?? [];
        for (const r of items) {
          if (stopped) break;
          // Approved once the request's pending-deletion tag was tried: tagging is best effort (a tag that failed is
          // recorded and the request stands), and an approver then sees a pending request like any other.
          const tagTried = r.taggedPendingDeletion || (r.history ?? []).some((e: any) => e.action === 'tag_pending_deletion');
          if (r.state !== 'pending' || !tagTried || approved.has(r.id)) continue;
          const res = await h.call(h.tokens.bob, 'POST', `/api/v1/deletion-requests/${r.id}/approve`, { vmid: r.vmid });
          if (res.status < 300) approved.add(r.id);
        }
      } catch { /* the API may be unable to answer during a fault: try again */ }
      await sleep(500);
    }
  })();
}

export async function jobId(h: Harness, run: Run, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!run.jobId) {
    try {
      run.jobId = (await h.call(h.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${run.branchId}`)).body?.items?.[0]?.id ?? null;
    } catch { /* try again */ }
    if (!run.jobId) {
      if (Date.now() > deadline) throw new Error(`no job for branch ${run.label} within ${timeoutMs / 1000} s`);
      await sleep(250);
    }
  }
  return run.jobId;
}

/** The job's state right now ('none' before it exists or when the API cannot answer). */
export async function jobStateNow(h: Harness, run: Run): Promise<string> {
  try {
    const id = run.jobId ?? await jobId(h, run, 5_000);
    return (await h.call(h.tokens.carol, 'GET', `/api/v1/apply-jobs/${id}`)).body?.state ?? 'none';
  } catch {
    return 'none';
  }
}

/**
 * Waits (at most `boundMs` after the faults stopped) for the job and every deletion request to be final, then judges
 * every VM against the cluster. What is still not final at the bound counts as stuck.
 */
export async function settle(h: Harness, run: Run, faultsStoppedAt: number, boundMs: number): Promise<Outcome> {
  const deadline = faultsStoppedAt + boundMs;
  const deletes = run.vms.filter((v) => v.op === 'delete').length;
  let job: any = null;
  let requests: any[] = [];
  for (;;) {
    try {
      const id = await jobId(h, run, 5_000);
      job = (await h.call(h.tokens.carol, 'GET', `/api/v1/apply-jobs/${id}`)).body;
      requests = (await h.call(h.tokens.carol, 'GET', `/api/v1/deletion-requests?branchId=${run.branchId}&limit=500`)).body?.items ?? [];
    } catch { /* not yet */ }
    const done = job && FINAL_JOB.includes(job.state) && requests.length >= deletes && requests.every((r) => FINAL_REQUEST.includes(r.state));
    if (done || Date.now() > deadline) break;
    await sleep(500);
  }
  run.stopApprovals();
  const convergeS = (Date.now() - faultsStoppedAt) / 1000;
  const jobFinal = !!job && FINAL_JOB.includes(job.state);
  const verdict = judge({
    vms: run.vms,
    results: jobFinal ? job.perVmResults : null,
    requests: new Map(requests.map((r) => [r.vmid, { state: r.state, reasonCode: r.reasonCode }])),
    guest: (vmid) => h.proxbox.cluster.getGuest(vmid, 1),
    pveLog: h.proxbox.cluster.pveLog,
  });
  const stuckRequests = requests.filter((r) => !FINAL_REQUEST.includes(r.state)).length;
  const stuck = (jobFinal ? 0 : 1) + stuckRequests;
  if (!jobFinal) {
    // Its VMs are stuck, not lost; say what the run is waiting for.
    verdict.findings = verdict.findings.filter((f) => !f.endsWith(': no result'));
    verdict.findings.push(`job ${run.jobId ?? '?'} still ${job?.state ?? 'unknown'} ${boundMs / 1000} s after the faults stopped`);
    if (job?.workflowId) {
      const d = await h.api.temporal.workflow.getHandle(job.workflowId).describe().catch((e: unknown) => e as Error);
      if (d instanceof Error) verdict.findings.push(`  its run: ${d.message}`);
      else {
        verdict.findings.push(`  its run: ${d.status.name}, ${d.historyLength} events`);
        // Alike pending activities are counted on one line; what each last heartbeat said tells where it waits.
        const lines = new Map<string, number>();
        for (const a of d.raw.pendingActivities ?? []) {
          const beat = await decodeArrayFromPayloads(h.api.temporal.options.loadedDataConverter, a.heartbeatDetails?.payloads)
            .then((v) => JSON.stringify(v[0] ?? null), (e: unknown) => `(unreadable: ${String(e)})`);
          const line = `pending ${a.activityType?.name} attempt ${a.attempt} state ${a.state}: ${a.lastFailure?.message ?? ''}; last heartbeat ${beat}`.slice(0, 400);
          lines.set(line, (lines.get(line) ?? 0) + 1);
        }
        for (const [line, n] of lines) verdict.findings.push(`  ${n} × ${line}`);
      }
    }
    // What the VMs without a result went through in proxbox-api, and what the workers said: enough to tell a hang.
    const recorded = new Set(Object.values(job?.perVmResults ?? {}).map((r: any) => r.vmid));
    for (const vm of run.vms.filter((v) => !recorded.has(v.vmid)).slice(0, 5)) {
      const calls = h.proxbox.control.calls.filter((c) => c.path.includes(`/${vm.vmid}`) || JSON.stringify(c.body ?? '').includes(`"vmid":${vm.vmid}`));
      const trail = calls.slice(-8).map((c) => `${new Date(c.at).toISOString().slice(11, 19)} ${c.method} ${c.path} ${c.status ?? 'open/dropped'}`).join('; ');
      verdict.findings.push(`  ${vm.op} ${vm.vmid} has no result; its last proxbox-api calls: ${trail || 'none'}`.slice(0, 900));
    }
    for (const w of h.workers) verdict.findings.push(`  worker ${w.pid} said: ${w.output().trim().split('\n').slice(-5).join(' | ')}`.slice(0, 900));
  }
  for (const r of requests.filter((x) => !FINAL_REQUEST.includes(x.state))) {
    const last = (r.history ?? []).at(-1);
    verdict.findings.push(`deletion request ${r.id} (${r.vmid}) still ${r.state}, tagged ${r.taggedPendingDeletion}; last: ${last ? `${last.action} ${last.outcome} ${last.detail ?? ''}` : 'none'}`.slice(0, 300));
  }
  if (!jobFinal) verdict.lost = 0;
  return { ...verdict, stuck, convergeS, jobState: job?.state ?? 'none' };
}

/** What the simulated cluster is doing right now: writes in proxbox-api, Proxmox tasks running, destroys. */
export function inFlight(h: Harness): { creates: number; taskWaits: number; destroys: number } {
  const open = h.proxbox.control.calls.filter((c) => c.status === null);
  const tasks = h.proxbox.cluster.listTasks().filter((t) => t.status === 'running');
  return {
    creates: open.filter((c) => c.method === 'POST' && c.path === '/intent/apply').length,
    taskWaits: tasks.filter((t) => t.type === 'qmcreate').length,
    destroys: open.filter((c) => /\/execute$/.test(c.path)).length + tasks.filter((t) => t.type === 'qmdestroy').length,
  };
}
