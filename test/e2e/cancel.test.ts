import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ONLY_ACTIVE_JOBS_CANCEL } from '../../domain/messages';
import { startStack, eventually, type Stack } from '../support/stack';
import { ApplyJobStore } from '../../db/apply-jobs';
import { recordHistoryIfAsked } from '../support/histories';

/**
 * Cancel is a graceful stop (api.md): nothing is dispatched after it, writes already sent are followed to their end,
 * and every per-VM result matches what the cluster holds. A forced cancel stops waiting and says what is unknown.
 */
describe('cancelling an apply job', () => {
  let s: Stack;
  // Eight writes may be under way at once but only four per node: four hold the node, four wait for a slot.
  beforeAll(async () => { s = await startStack({ env: { APPLY_MAX_CONCURRENCY: '8', APPLY_MAX_PER_NODE: '4' } }); });
  afterAll(async () => { await s?.stop(); });

  const createSpec = (name: string, vmid: number) => ({
    name, cluster: 5, vcpus: '1.00', memory: 512, tags: [],
    custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
  });
  const appliedVmids = () => s.proxbox.control.callsTo('POST', '/intent/apply').map((c) => (c.body as any).diffs[0].payload.vmid as number);
  async function runningJob(branchId: number) {
    return eventually(async () => {
      const items = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branchId}`)).body.items;
      return items[0]?.state === 'running' ? items[0] : undefined;
    }, 'a running job');
  }

  it('stops dispatching, follows the writes already sent to their end, and marks the rest cancelled', async () => {
    // Long enough that the cancel lands while all four are still in flight, even on a loaded machine; shorter than the
    // stack's backend timeout (10 s), so each answer still arrives.
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 7_000, times: 4 });
    const branch = s.netbox.createBranch({ name: 'twelve', owner: 'bob', customFields: { apply_to_proxmox: true, apply_destroy_confirmed: true } });
    s.netbox.deleteVm(branch.id, 790);
    for (let i = 0; i < 12; i++) s.netbox.createVm(branch.id, createSpec(`dozen-${i}`, 410 + i));
    await s.netbox.mergeBranch(branch.id, 'alice');
    const job = await runningJob(branch.id);
    await eventually(async () => (appliedVmids().length === 4 ? true : undefined), 'four creates in flight on pve01');
    await eventually(async () => ((await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests')).body.items.length ? true : undefined), 'the deletion request');

    const denied = await s.call(s.tokens.carol, 'POST', `/api/v1/apply-jobs/${job.id}/cancel`);
    expect(denied.status).toBe(403);

    const res = await s.call(s.tokens.admin, 'POST', `/api/v1/apply-jobs/${job.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('failed');
    const results = res.body.perVmResults as Record<string, any>;
    expect(results._cancelled).toMatchObject({ status: 'cancelled', op: 'cancel' });
    expect(results._cancelled.message).toContain('Cancelled by admin');
    const pending = results['vm-790'];
    expect(pending).toMatchObject({ status: 'deletion_requested', deletionRequestId: expect.any(Number) });
    expect(results._cancelled.message).toContain(`Deletion requests ${pending.deletionRequestId} stay pending`);

    // Every VM has a result, and each one matches the cluster.
    const sent = appliedVmids();
    expect(sent, 'nothing is dispatched after the cancel').toHaveLength(4);
    const creates = Object.values(results).filter((r) => r.op === 'create');
    expect(creates).toHaveLength(12);
    for (const r of creates) {
      const guest = s.proxbox.cluster.getGuest(r.vmid);
      if (sent.includes(r.vmid)) {
        expect(r, `the create of ${r.vmid} was sent and awaited`).toMatchObject({ status: 'succeeded', proxmoxUpid: expect.stringMatching(/^UPID:/) });
        expect(guest).toBeTruthy();
      } else {
        expect(r, `${r.vmid} was never sent`).toMatchObject({ status: 'cancelled', reason: 'cancelled' });
        expect(r.message).toBe('Not sent to proxbox-api: the run was cancelled by admin first');
        expect(guest).toBeUndefined();
      }
    }

    const dr = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${pending.deletionRequestId}`)).body;
    expect(dr.state).toBe('pending');
    expect((await s.system.temporal.workflow.getHandle(dr.workflowId).describe()).status.name, 'the deletion outlives the cancelled apply').toBe('RUNNING');
    const handle = s.system.temporal.workflow.getHandle(job.workflowId);
    expect((await handle.describe()).status.name).toBe('CANCELLED');

    // The live log tells the same story, and ends.
    const log = await (await fetch(`${s.api}/api/v1/apply-jobs/${job.id}/events`, { headers: { authorization: `Bearer ${s.tokens.carol}` } })).text();
    expect(log.match(/^event: dispatch$/gm)).toHaveLength(4);
    expect(log.match(/"status":"cancelled"/g)!.length).toBeGreaterThanOrEqual(8);
    expect(log).toMatch(/event: complete\n[^\n]*"cancelled":true/);

    const again = await s.call(s.tokens.admin, 'POST', `/api/v1/apply-jobs/${job.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.detail).toBe(ONLY_ACTIVE_JOBS_CANCEL);
    expect(appliedVmids()).toHaveLength(4);
    await recordHistoryIfAsked(s.system.temporal, job.workflowId, 'apply-cancelled');
  });

  it('a forced cancel stops waiting, says which outcomes are unknown, and the real outcome replaces that when it lands', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 4_000, times: 2 });
    const branch = s.netbox.createBranch({ name: 'forced', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(branch.id, createSpec('forced-0', 430));
    s.netbox.createVm(branch.id, createSpec('forced-1', 431));
    const before = appliedVmids().length;
    await s.netbox.mergeBranch(branch.id, 'alice');
    const job = await runningJob(branch.id);
    await eventually(async () => (appliedVmids().length === before + 2 ? true : undefined), 'both creates in flight');

    const res = await s.call(s.tokens.admin, 'POST', `/api/v1/apply-jobs/${job.id}/cancel?force=true`);
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('failed');
    const unknown = Object.values(res.body.perVmResults as Record<string, any>).filter((r) => r.op === 'create');
    expect(unknown.map((r) => `${r.vmid}:${r.status}:${r.reason}`).sort()).toEqual(['430:unknown:cancel_forced', '431:unknown:cancel_forced']);
    expect(unknown[0].message).toContain('outcome is unknown');

    // The writes were sent, so they finish in proxbox-api; their results then say what the cluster holds.
    const settled = await eventually(async () => {
      const r = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${job.id}`)).body.perVmResults as Record<string, any>;
      const creates = Object.values(r).filter((x) => x.op === 'create');
      return creates.every((x) => x.status === 'succeeded') ? creates : undefined;
    }, 'the real outcomes', 30_000);
    for (const r of settled) expect(s.proxbox.cluster.getGuest(r.vmid)).toBeTruthy();
    expect((await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${job.id}`)).body.state).toBe('failed');
  });

  it('closes a queued job whose workflow never started, without touching Temporal or proxbox-api', async () => {
    const { job } = await new ApplyJobStore(s.system.database.db).ensure({
      workflowId: 'apply:neverran:1784901791902', branchId: 999, branchSchemaId: 'neverran', branchName: 'orphan',
      mergedAt: new Date(1784901791902), username: 'alice', source: 'webhook',
    });
    const before = s.proxbox.control.calls.length;
    const res = await s.call(s.tokens.admin, 'POST', `/api/v1/apply-jobs/${job.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('failed');
    expect(res.body.perVmResults._cancelled.message).toBe('Cancelled by admin; results already applied are kept.');
    expect(s.proxbox.control.calls).toHaveLength(before);
  });
});
