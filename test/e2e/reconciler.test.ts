import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { ReconcileResult } from '../../workflows/types';
import { MESSAGES } from '../../domain/messages';
import { ensureReconcilerSchedule, reconcilerScheduleId } from '../../services/reconciler-schedule';
import * as m from '../support/merges';
import { startStack, eventually, type Stack } from '../support/stack';
import { recordHistoryIfAsked } from '../support/histories';

describe('the reconciler: a Temporal Schedule that applies merges whose webhook was lost', () => {
  let s: Stack;
  let seq = 0;
  beforeAll(async () => { s = await startStack({ env: { RECONCILE_INTERVAL_S: '3600', RECONCILE_LOOKBACK_H: '6' } }); });
  afterAll(async () => { await s?.stop(); });

  const schedule = () => s.system.temporal.schedule.getHandle(reconcilerScheduleId(s.taskQueue));

  const guestBranch = (opts: { optIn?: boolean } = {}) => { seq += 1; return m.guestBranch(s, `rec-${seq}`, 600 + seq, opts); };
  const mergeUndelivered = (branchId: number) => m.mergeUndelivered(s, branchId);
  const runId = (branch: { id: number; schemaId: string }) => m.currentRunId(s, branch);
  const jobsOf = (branchId: number) => m.jobsOfBranch(s, branchId);
  const appliesTo = (vmid: number) => m.appliesTo(s, vmid);
  const finished = (jobId: string) => m.finishedJob(s, jobId);

  /** Triggers the Schedule (as an operator would in the Temporal UI) and returns the run it started and its result. */
  async function triggerSchedule(): Promise<{ workflowId: string; result: ReconcileResult }> {
    const before = (await schedule().describe()).info.numActionsTaken;
    await schedule().trigger();
    const action = await eventually(async () => {
      const info = (await schedule().describe()).info;
      return info.numActionsTaken > before ? info.recentActions.at(-1)!.action : undefined;
    }, 'the triggered reconciler run');
    const handle = s.system.temporal.workflow.getHandle(action.workflow.workflowId);
    return { workflowId: action.workflow.workflowId, result: await handle.result() as ReconcileResult };
  }

  /** Runs the reconciler workflow directly, as the Schedule does. */
  function reconcileNow(): Promise<ReconcileResult> {
    return s.system.temporal.workflow.execute('ReconcilerWorkflow', {
      taskQueue: s.taskQueue, workflowId: `reconcile-now-${Math.random().toString(36).slice(2)}`, args: [{ lookbackHours: 6 }],
    });
  }

  it('was created at worker start with the configured period and look-back', async () => {
    const d = await schedule().describe();
    expect(d.spec.intervals?.map((i) => i.every)).toEqual([3_600_000]);
    expect(d.action).toMatchObject({
      type: 'startWorkflow', workflowType: 'ReconcilerWorkflow', taskQueue: s.taskQueue, args: [{ lookbackHours: 6 }],
      staticSummary: 'Reconcile merged NetBox branches: start any missing apply (look-back 6 h)',
    });
    expect(d.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
    expect(d.state.paused).toBe(false);
  });

  it('is created once and updated idempotently when several workers start at once', async () => {
    const taskQueue = `${s.taskQueue}-other`;
    const other = s.system.temporal.schedule.getHandle(reconcilerScheduleId(taskQueue));
    try {
      const created = await Promise.all(Array.from({ length: 4 }, () => ensureReconcilerSchedule(s.system.temporal, { taskQueue, intervalS: 300, lookbackHours: 24 })));
      expect(created.sort()).toEqual(['created', 'unchanged', 'unchanged', 'unchanged']);
      expect(await ensureReconcilerSchedule(s.system.temporal, { taskQueue, intervalS: 300, lookbackHours: 24 })).toBe('unchanged');
      // A redeploy with new settings: every starting worker writes the same new content.
      const changed = await Promise.all(Array.from({ length: 3 }, () => ensureReconcilerSchedule(s.system.temporal, { taskQueue, intervalS: 120, lookbackHours: 48 })));
      expect(changed.every((r) => r === 'updated' || r === 'unchanged')).toBe(true);
      expect(changed).toContain('updated');
      const d = await other.describe();
      expect(d.spec.intervals?.map((i) => i.every)).toEqual([120_000]);
      expect(d.action).toMatchObject({ taskQueue, args: [{ lookbackHours: 48 }] });
      await expect(ensureReconcilerSchedule(s.system.temporal, { taskQueue, intervalS: 0, lookbackHours: 24 })).rejects.toThrow(RangeError);
    } finally {
      await other.delete();
    }
  });

  it('applies a merge whose webhook was lost, exactly once, when the Schedule runs; its run says what it started', async () => {
    const { branch, vmid } = guestBranch();
    await mergeUndelivered(branch.id);
    expect(await jobsOf(branch.id)).toEqual([]);

    const { workflowId, result } = await triggerSchedule();
    expect(result.started).toContainEqual({ branchId: branch.id, branchName: branch.name, workflowId: runId(branch), jobId: expect.any(String) });
    const jobs = await jobsOf(branch.id);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ workflowId: runId(branch), source: 'reconciler', user: 'alice' });
    expect((await finished(jobs[0].id)).state).toBe('succeeded');
    expect(appliesTo(vmid)).toHaveLength(1);

    const run = await s.system.temporal.workflow.getHandle(workflowId).describe();
    expect(run.type).toBe('ReconcilerWorkflow');
    expect(await run.staticSummary()).toBe('Reconcile merged NetBox branches: start any missing apply (look-back 6 h)');
    await recordHistoryIfAsked(s.system.temporal, workflowId, 'reconciler-started-one');

    const again = await triggerSchedule();
    expect(again.result.started.map((x) => x.branchId)).not.toContain(branch.id);
    expect(again.result.existing).toContainEqual({ branchId: branch.id, workflowId: runId(branch) });
    expect(await jobsOf(branch.id)).toHaveLength(1);
    expect(appliesTo(vmid)).toHaveLength(1);
  });

  it('starts nothing for a merge the webhook delivered', async () => {
    const { branch, vmid } = guestBranch();
    const merged = await s.netbox.mergeBranch(branch.id, 'alice');
    expect(merged.deliveries[0]!.status).toBe(202);
    const result = await reconcileNow();
    expect(result.started.map((x) => x.branchId)).not.toContain(branch.id);
    expect(result.existing).toContainEqual({ branchId: branch.id, workflowId: runId(branch) });
    const jobs = await jobsOf(branch.id);
    expect(jobs).toHaveLength(1);
    expect(jobs[0].source).toBe('webhook');
    await finished(jobs[0].id);
    expect(appliesTo(vmid)).toHaveLength(1);
  });

  it('skips a branch reverted since its merge and one that did not opt in', async () => {
    const reverted = guestBranch();
    await mergeUndelivered(reverted.branch.id);
    s.netbox.revertBranch(reverted.branch.id, 'alice');
    const optedOut = guestBranch({ optIn: false });
    await mergeUndelivered(optedOut.branch.id);

    const result = await reconcileNow();
    expect(result.skipped).toContainEqual({ branchId: reverted.branch.id, reason: 'Branch is ready, not merged' });
    expect(result.skipped).toContainEqual({ branchId: optedOut.branch.id, reason: MESSAGES.notOptedIn });
    expect(result.started).toEqual([]);
    expect(result.failed).toEqual([]);
    expect(await jobsOf(reverted.branch.id)).toEqual([]);
    expect(await jobsOf(optedOut.branch.id)).toEqual([]);
    expect(appliesTo(reverted.vmid)).toHaveLength(0);
  });

  it('finds a merged-then-archived branch whose events were pruned through the sweep', async () => {
    const { branch, vmid } = guestBranch();
    await mergeUndelivered(branch.id);
    s.netbox.archiveBranch(branch.id);
    for (let i = s.netbox.events.length - 1; i >= 0; i--) if (s.netbox.events[i]!.branchId === branch.id) s.netbox.events.splice(i, 1);
    const events = s.netbox.control.calls.length;

    const result = await reconcileNow();
    expect(result.started).toContainEqual({ branchId: branch.id, branchName: branch.name, workflowId: runId(branch), jobId: expect.any(String) });
    const sweep = s.netbox.control.calls.slice(events).find((c) => c.path === '/api/plugins/branching/branches/' && c.query.cf_apply_to_proxmox === 'true');
    expect(sweep?.query).toMatchObject({ last_updated__gte: result.windowStart });
    const jobs = await jobsOf(branch.id);
    expect((await finished(jobs[0].id)).state).toBe('succeeded');
    expect(appliesTo(vmid)).toHaveLength(1);
  });
});
