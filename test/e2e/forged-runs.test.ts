import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplyJobStore } from '../../db/apply-jobs';
import { DEMO } from '../../simulators/netbox';
import { eventually, startStack, type Stack } from '../support/stack';

const vmSpec = (name: string, vmid: number) => ({
  name, cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, tags: [],
  custom_fields: { proxmox_vm_id: vmid, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
});

/** Nothing that arrives through Temporal is an identity: an ApplyWorkflow works only for its own job row. */
describe('ApplyWorkflows started straight in Temporal', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  const applyCalls = () => s.proxbox.control.callsTo('POST', '/intent/apply').length;
  const start = (workflowId: string, input: Record<string, unknown>) =>
    s.system.temporal.workflow.execute('ApplyWorkflow', { workflowId, taskQueue: s.taskQueue, args: [input] }).then(() => null, (err: unknown) => err);

  it('a run with no job row of its own writes nothing, whatever identity its input claims', async () => {
    // An opted-in branch merged by someone without permissions; the forged run claims admin, alice and a made-up job.
    s.netbox.addUser({ username: 'mallory' });
    const branch = s.netbox.createBranch({ name: 'forged', owner: 'mallory', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(branch.id, vmSpec('forged-01', 460));
    const before = applyCalls();
    const err = await start('apply:forged:1', {
      jobId: '00000000-0000-4000-8000-000000000001', branchId: branch.id, schemaId: branch.schemaId, mergedTimeMs: Date.now(), username: 'alice', maxConcurrency: 4,
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err as WorkflowFailedError).cause?.message)).toContain('no apply job 00000000-0000-4000-8000-000000000001 exists');
    expect(applyCalls()).toBe(before);
    expect(s.proxbox.cluster.getGuest(460)).toBeUndefined();
  });

  it('a run that names a real job but is not that job\'s workflow writes nothing, changes nothing and is on the job\'s record', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 1_500, times: 1 });
    const branch = s.netbox.createBranch({ name: 'real-one', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(branch.id, vmSpec('real-01', 461));
    await s.netbox.mergeBranch(branch.id, 'alice');
    const job = await eventually(async () => {
      const j = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items[0];
      return j && ['succeeded', 'partial', 'failed'].includes(j.state) ? j : undefined;
    }, 'the real apply to finish');
    const before = applyCalls();
    const jobs = new ApplyJobStore(s.system.database.db);
    const row = (await jobs.get(job.id))!;

    // Another workflow id with the real job's id, and the real workflow id again once its run has closed; each also
    // as a forged continuation (continue-as-new's input): a new chain has a first run id of its own.
    for (const workflowId of [`apply:replayed:${Date.now()}`, job.workflowId]) {
      for (const extra of [{}, { continued: { afterSeq: 0, total: 1, done: 0, cancelledBy: null, run: 2 } }]) {
        const err = await start(workflowId, { jobId: job.id, username: 'admin', maxConcurrency: 64, ...extra });
        expect(err, workflowId).toBeInstanceOf(WorkflowFailedError);
        expect((err as WorkflowFailedError).cause).toMatchObject({ type: 'RunRefused' });
      }
    }
    expect(applyCalls()).toBe(before);
    const after = (await jobs.get(job.id))!;
    expect(after).toMatchObject({ state: row.state, username: 'alice', finishedAt: row.finishedAt, temporalRunId: row.temporalRunId });
    const log = (await jobs.eventsAfter(job.id, 0)).filter((e) => e.type === 'log').map((e) => (e.data as { message: string }).message);
    expect(log.some((m) => /Run apply:replayed:\d+ refused: apply job .* belongs to workflow/.test(m))).toBe(true);
    expect(log.some((m) => m.includes(`Run ${job.workflowId} refused: apply job ${job.id} is already ${row.state}; a merge is applied once`))).toBe(true);
  });
});
