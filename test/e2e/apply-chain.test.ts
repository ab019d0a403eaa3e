import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStateQuery } from '../../workflows/definitions';
import { startStack, eventually, type Stack } from '../support/stack';
import { recordHistoryIfAsked } from '../support/histories';
import { appliesTo, finishedJob, jobsOfBranch } from '../support/merges';

/**
 * A merge larger than one run (APPLY_ITEMS_PER_RUN, here 2): the ApplyWorkflow reads its work list from PostgreSQL a
 * page at a time and continues as new between pages. The job, its live log, its links, cancel and the deletions it
 * started behave as in one run.
 */
describe('an apply that spans several runs (continue-as-new)', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack({ env: { APPLY_ITEMS_PER_RUN: '2', APPLY_MAX_CONCURRENCY: '2' } }); });
  afterAll(async () => { await s?.stop(); });

  const createSpec = (name: string, vmid: number) => ({
    name, cluster: 5, vcpus: '1.00', memory: 512, tags: [],
    custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
  });
  async function chainOf(workflowId: string) {
    const runs: { runId: string; status: string; start: number }[] = [];
    for await (const r of s.system.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runs.push({ runId: r.runId, status: r.status.name, start: r.startTime.getTime() });
    }
    return runs.sort((a, b) => a.start - b.start);
  }

  it('applies every VM once across the chain, one job, one live log, the deletion child outliving the run that started it', async () => {
    const branch = s.netbox.createBranch({ name: 'chain-five', owner: 'bob', customFields: { apply_to_proxmox: true, apply_destroy_confirmed: true } });
    s.netbox.deleteVm(branch.id, 790);
    for (let i = 0; i < 4; i++) s.netbox.createVm(branch.id, createSpec(`chain-${i}`, 620 + i));
    await s.netbox.mergeBranch(branch.id, 'alice');
    const [listed] = await eventually(async () => ((await jobsOfBranch(s, branch.id)).length ? jobsOfBranch(s, branch.id) : undefined), 'the job');
    const job = await finishedJob(s, listed.id);

    const results = Object.values<any>(job.perVmResults);
    expect(results.map((r) => [r.vmid, r.status]).sort()).toEqual([[190, 'deletion_requested'], [620, 'succeeded'], [621, 'succeeded'], [622, 'succeeded'], [623, 'succeeded']]);
    for (let i = 0; i < 4; i++) expect(appliesTo(s, 620 + i), `VM ${620 + i} is sent once`).toHaveLength(1);
    expect(job.state).toBe('succeeded');
    expect(job.temporalUrl).toContain(encodeURIComponent(job.workflowId));

    // Three runs of one workflow id: two handed over, the last closed the job.
    // The job closes just before its run does, and Temporal's visibility follows a moment later.
    await s.system.temporal.workflow.getHandle(job.workflowId).result();
    const runs = await eventually(async () => {
      const chain = await chainOf(job.workflowId);
      return chain.length === 3 && chain.at(-1)!.status !== 'RUNNING' ? chain : undefined;
    }, 'the chain in Temporal visibility');
    expect(runs.map((r) => r.status)).toEqual(['CONTINUED_AS_NEW', 'CONTINUED_AS_NEW', 'COMPLETED']);
    // The search attributes set by the first run (branch, VMIDs) stay on the runs that continue it.
    const sa = Object.fromEntries((await s.system.temporal.workflow.getHandle(job.workflowId).describe()).typedSearchAttributes.getAll().map((p) => [p.key.name, p.value]));
    expect(sa).toMatchObject({ ProxboxBranch: job.branch.schemaId, ProxboxState: 'succeeded', ProxboxUser: 'alice' });
    expect(sa.ProxboxVmids).toEqual(['190', '620', '621', '622', '623']);
    const state = await s.system.temporal.workflow.getHandle(job.workflowId).query(applyStateQuery);
    expect(state).toMatchObject({ phase: 'done', run: 3, total: 5, done: 5 });

    // The live log: one plan, one result per VM, one end, whichever run wrote them.
    const events = await (await fetch(`${s.api}/api/v1/apply-jobs/${job.id}/events`, { headers: { authorization: `Bearer ${s.tokens.carol}` } })).text();
    expect(events.match(/^event: plan_summary$/gm)).toHaveLength(1);
    expect(events.match(/^event: result$/gm)).toHaveLength(5);
    expect(events.match(/^event: complete$/gm)).toHaveLength(1);

    const dr = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${job.perVmResults['vm-790'].deletionRequestId}`)).body;
    expect(dr.state).toBe('pending');
    expect((await s.system.temporal.workflow.getHandle(dr.workflowId).describe()).status.name, 'ABANDON: the deletion outlives its parent run').toBe('RUNNING');

    await recordHistoryIfAsked(s.system.temporal, job.workflowId, 'apply-continued-as-new', runs[0]!.runId);
    await recordHistoryIfAsked(s.system.temporal, job.workflowId, 'apply-continued-final');
  });

  it('a cancel during a continued run stops the chain: the writes in flight finish, the rest are cancelled, nothing more is sent', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 1_500, times: 100 });
    const branch = s.netbox.createBranch({ name: 'chain-cancel', owner: 'bob', customFields: { apply_to_proxmox: true } });
    for (let i = 0; i < 6; i++) s.netbox.createVm(branch.id, createSpec(`chain-c-${i}`, 640 + i));
    await s.netbox.mergeBranch(branch.id, 'alice');
    const [listed] = await eventually(async () => ((await jobsOfBranch(s, branch.id)).length ? jobsOfBranch(s, branch.id) : undefined), 'the job');
    const handle = s.system.temporal.workflow.getHandle(listed.workflowId);
    await eventually(async () => {
      const st = await handle.query(applyStateQuery).catch(() => null);
      return st?.run === 2 && st.inFlight.length > 0 ? true : undefined;
    }, 'the second run writing');

    const res = await s.call(s.tokens.admin, 'POST', `/api/v1/apply-jobs/${listed.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('failed');
    const results = res.body.perVmResults as Record<string, any>;
    expect(results._cancelled.message).toContain('Cancelled by admin');
    const sent = s.proxbox.control.callsTo('POST', '/intent/apply').map((c) => (c.body as any).diffs[0].payload.vmid as number).filter((v) => v >= 640 && v < 646);
    expect(sent.length, 'the first run’s two and the second run’s writes in flight').toBeGreaterThanOrEqual(3);
    expect(sent.length).toBeLessThanOrEqual(4);
    for (const r of Object.values(results).filter((x) => x.op === 'create')) {
      if (sent.includes(r.vmid)) expect(r).toMatchObject({ status: 'succeeded' });
      else expect(r).toMatchObject({ status: 'cancelled', message: 'Not sent to proxbox-api: the run was cancelled by admin first' });
    }
    expect(Object.values(results).filter((x) => x.op === 'create')).toHaveLength(6);
    const chain = await eventually(async () => {
      const runs = await chainOf(listed.workflowId);
      return runs.length === 2 && runs.at(-1)!.status !== 'RUNNING' ? runs : undefined;
    }, 'the chain in Temporal visibility');
    expect(chain.map((r) => r.status)).toEqual(['CONTINUED_AS_NEW', 'CANCELLED']);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(s.proxbox.control.callsTo('POST', '/intent/apply').filter((c) => (c.body as any).diffs[0].payload.vmid >= 640).length, 'nothing sent after the cancel').toBe(sent.length);
    s.proxbox.control.clearFaults();
  });
});
