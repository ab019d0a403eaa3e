import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ONLY_ACTIVE_JOBS_CANCEL } from '../../domain/messages';
import { startStack, eventually, type Stack } from '../support/stack';
import { ApplyJobStore } from '../../db/apply-jobs';
import { recordHistoryIfAsked } from '../support/histories';

describe('cancelling an apply job', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  it('really cancels the workflow, marks the job failed and records a _cancelled entry', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 8_000 });
    const branch = s.netbox.createBranch({ name: 'slow-one', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.deleteVm(branch.id, 790);
    s.netbox.updateBranch(branch.id, { customFields: { apply_to_proxmox: true, apply_destroy_confirmed: true } });
    s.netbox.createVm(branch.id, {
      name: 'slow-01', cluster: 5, vcpus: '1.00', memory: 512,
      custom_fields: { proxmox_vm_id: 401, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
      tags: [],
    });
    await s.netbox.mergeBranch(branch.id, 'alice');
    const job = await eventually(async () => {
      const items = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items;
      return items[0]?.state === 'running' ? items[0] : undefined;
    }, 'a running job');
    await eventually(async () => (s.proxbox.control.callsTo('POST', '/intent/apply').length === 1 ? true : undefined), 'the in-flight create');
    await eventually(async () => ((await s.call(s.tokens.carol, 'GET', '/api/v1/deletion-requests')).body.items.length ? true : undefined), 'the deletion request');

    const denied = await s.call(s.tokens.carol, 'POST', `/api/v1/apply-jobs/${job.id}/cancel`);
    expect(denied.status).toBe(403);

    const res = await s.call(s.tokens.admin, 'POST', `/api/v1/apply-jobs/${job.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body.state).toBe('failed');
    expect(res.body.perVmResults._cancelled).toMatchObject({ status: 'cancelled', op: 'cancel' });
    expect(res.body.perVmResults._cancelled.message).toContain('Cancelled by admin');
    const pending = res.body.perVmResults['vm-790'];
    expect(pending).toMatchObject({ status: 'deletion_requested', deletionRequestId: expect.any(Number) });
    expect(res.body.perVmResults._cancelled.message).toContain(`Deletion requests ${pending.deletionRequestId} stay pending`);
    const dr = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${pending.deletionRequestId}`)).body;
    expect(dr.state).toBe('pending');
    expect((await s.system.temporal.workflow.getHandle(dr.workflowId).describe()).status.name, 'the deletion outlives the cancelled apply').toBe('RUNNING');
    const handle = s.system.temporal.workflow.getHandle(job.workflowId);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const events = (await handle.fetchHistory()).events ?? [];
    const canceled = events.filter((e) => e.activityTaskCanceledEventAttributes);
    expect(canceled, 'the in-flight create acknowledged the cancel').toHaveLength(1);
    expect(Object.keys(res.body.perVmResults).sort()).toEqual(['_cancelled', 'vm-790']);

    const again = await s.call(s.tokens.admin, 'POST', `/api/v1/apply-jobs/${job.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.detail).toBe(ONLY_ACTIVE_JOBS_CANCEL);
    expect(s.proxbox.control.callsTo('POST', '/intent/apply')).toHaveLength(1);
    await recordHistoryIfAsked(s.system.temporal, job.workflowId, 'apply-cancelled');
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
