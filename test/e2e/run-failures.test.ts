import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { sql } from 'drizzle-orm';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { createApplyActivities } from '../../activities/apply';
import type { ActivityDeps } from '../../activities/deps';
import type { ApplyWorkflowInput } from '../../workflows/types';
import { ApplyJobStore } from '../../db/apply-jobs';
import { DeletionRequestStore } from '../../db/deletion-requests';
import { SettingsStore } from '../../db/settings';
import { UserStore } from '../../db/users';
import { DEMO } from '../../simulators/netbox';
import { closeOrphanedJobs } from '../../services/orphaned-jobs';
import { eventually, sharedBundle, startStack, type Stack } from '../support/stack';

/** No job is left running for ever, and no deletion request is left pending with nobody able to decide it. */
describe('runs that fail for reasons other than a cancel', () => {
  let s: Stack;
  beforeAll(async () => { s = await startStack(); });
  afterAll(async () => { await s?.stop(); });

  let seq = 0;
  /** A job row and an ApplyWorkflow for it on a task queue of its own, served by a worker whose planning is broken. */
  async function runWithBrokenPlanning(loadApplyPlan: (input: { jobId: string }) => Promise<unknown>, more: Record<string, (...args: never[]) => Promise<unknown>> = {}) {
    const db = s.system.database.db;
    const jobs = new ApplyJobStore(db);
    const workflowId = `apply:broken${++seq}:1784901791902`;
    const { job } = await jobs.ensure({ workflowId, branchId: 4242, branchSchemaId: `broken${seq}`, branchName: 'broken', mergedAt: new Date(1784901791902), username: 'alice', source: 'api' });
    const deps = {
      jobs, deletions: new DeletionRequestStore(db), settings: new SettingsStore(db), endpoints: s.system.endpoints, users: new UserStore(db),
      db, locks: s.system.database.locks, approvalSecret: 'unused-in-this-test-0123456789',
    } as unknown as ActivityDeps;
    const taskQueue = `broken-${seq}-${Math.random().toString(36).slice(2, 8)}`;
    const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
    const worker = await Worker.create({
      connection, namespace: inject('temporalNamespace'), taskQueue, workflowBundle: await sharedBundle(),
      activities: { ...createApplyActivities(deps), loadApplyPlan, ...more },
    });
    const input: ApplyWorkflowInput = { jobId: job.id, branchId: 4242, schemaId: `broken${seq}`, mergedTimeMs: 1784901791902, username: 'alice', maxConcurrency: 2 };
    const outcome = await worker.runUntil(s.system.temporal.workflow.execute('ApplyWorkflow', { workflowId, taskQueue, args: [input] }).then(
      () => { throw new Error('the run should have failed'); }, (err: unknown) => err));
    await connection.close();
    return { job: (await jobs.get(job.id))!, outcome, events: await jobs.eventsAfter(job.id, 0) };
  }

  it('planning that gives up closes the job failed, says why, and ends the live log', async () => {
    const { job, outcome, events } = await runWithBrokenPlanning(async () => {
      throw ApplicationFailure.nonRetryable('NetBox answered the ChangeDiff list with something that is not JSON', 'netbox:unexpected_body');
    });
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect(job.state).toBe('failed');
    expect(job.error).toBe('The run failed: NetBox answered the ChangeDiff list with something that is not JSON');
    expect(job.finishedAt).toBeTruthy();
    expect(events.at(-1)).toMatchObject({ type: 'complete', data: { state: 'failed', error: job.error } });
  });

  it('a bug in the workflow (a work-list page of the wrong shape) fails the run instead of retrying it for ever, and closes the job', async () => {
    const { job, outcome, events } = await runWithBrokenPlanning(async (input: { jobId: string }) => ({
      run: { jobId: input.jobId, branchId: 4242, schemaId: 'broken', mergedTimeMs: 1784901791902, username: 'alice', maxConcurrency: 2 },
      branchName: 'broken', abort: null, planned: 1, recorded: 0, vmids: [],
    }), { nextApplyItems: async () => ({ items: null }) });
    expect(outcome).toBeInstanceOf(WorkflowFailedError);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/^The run failed: .*null/);
    expect(events.at(-1)).toMatchObject({ type: 'complete', data: { state: 'failed' } });
  });

  it('a job whose workflow was terminated is closed failed by the reconciler\'s sweep', async () => {
    s.proxbox.control.addFault({ method: 'POST', path: '^/intent/apply$', mode: 'slow', delayMs: 5_000, times: 1 });
    const branch = s.netbox.createBranch({ name: 'terminated', owner: 'bob', customFields: { apply_to_proxmox: true } });
    s.netbox.createVm(branch.id, {
      name: 'term-01', cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, tags: [],
      custom_fields: { proxmox_vm_id: 450, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
    });
    await s.netbox.mergeBranch(branch.id, 'alice');
    const running = await eventually(async () => {
      const j = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs?branchId=${branch.id}`)).body.items[0];
      return j?.state === 'running' ? j : undefined;
    }, 'the running job');
    await s.system.temporal.workflow.getHandle(running.workflowId).terminate('an operator terminated it in the Temporal UI');
    const jobs = new ApplyJobStore(s.system.database.db);
    expect((await jobs.get(running.id))!.state).toBe('running');

    const closed = await closeOrphanedJobs(jobs, s.system.temporal, { olderThanMs: 0 });
    expect(closed).toContainEqual({ jobId: running.id, workflowId: running.workflowId, status: 'TERMINATED' });
    const after = (await s.call(s.tokens.carol, 'GET', `/api/v1/apply-jobs/${running.id}`)).body;
    expect(after).toMatchObject({ state: 'failed', error: expect.stringContaining('The run ended (terminated) without closing this job') });
    // The write that was in flight may still record its real outcome afterwards; the live log has ended all the same.
    const events = await jobs.eventsAfter(running.id, 0);
    expect(events.find((e) => e.type === 'complete')).toMatchObject({ data: { state: 'failed' } });
    expect(await closeOrphanedJobs(jobs, s.system.temporal, { olderThanMs: 0 }), 'a second sweep changes nothing').not.toContainEqual(expect.objectContaining({ jobId: running.id }));
  });

  it('deletion bookkeeping keeps retrying while it fails, shows the trouble on the request, and recovers', async () => {
    const db = s.system.database.db;
    // PostgreSQL refuses every change to this one request for a while: its tagging activity fails and is retried.
    await db.execute(sql.raw(`create function test_refuse_update() returns trigger language plpgsql as $$
      begin if new.vmid = 451 then raise exception 'test_refuse_update: PostgreSQL refuses this change'; end if; return new; end $$`));
    await db.execute(sql`create trigger test_refuse_update before update on deletion_requests for each row execute function test_refuse_update()`);
    try {
      s.proxbox.cluster.addGuest({ vmid: 451, node: 'pve01', type: 'qemu', name: 'stubborn-01', status: 'stopped', cores: 1, memory: 512 });
      const vm = s.netbox.addMainVm({
        name: 'stubborn-01', cluster: DEMO.clusterId, vcpus: '1.00', memory: 512, tags: [],
        custom_fields: { proxmox_vm_id: 451, proxmox_vm_type: 'qemu', proxmox_node: 'pve01', proxmox_storage: 'local-lvm' },
      });
      const branch = s.netbox.createBranch({ name: 'stubborn', owner: 'bob', customFields: { apply_to_proxmox: true, apply_destroy_confirmed: true } });
      s.netbox.deleteVm(branch.id, vm.pk);
      await s.netbox.mergeBranch(branch.id, 'alice');
      const request = await eventually(async () => (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests?branchId=${branch.id}`)).body.items[0], 'the deletion request');
      const troubled = await eventually(async () => {
        const r = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${request.id}`)).body;
        return r.trouble && r.trouble.attempt >= 3 ? r : undefined;
      }, 'the trouble shown on the request');
      expect(troubled.state).toBe('pending');
      expect(troubled.trouble).toMatchObject({ activity: 'markPendingDeletion', lastFailure: expect.stringContaining('test_refuse_update') });
    } finally {
      await db.execute(sql`drop trigger test_refuse_update on deletion_requests`);
      await db.execute(sql`drop function test_refuse_update()`);
    }
    const healed = await eventually(async () => {
      const r = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests?vmid=451`)).body.items[0];
      const detail = (await s.call(s.tokens.carol, 'GET', `/api/v1/deletion-requests/${r.id}`)).body;
      return detail.taggedPendingDeletion && detail.trouble === null ? detail : undefined;
    }, 'the request tagged once PostgreSQL accepts it again', 45_000);
    expect(healed.state).toBe('pending');
  });
});
