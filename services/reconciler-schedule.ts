import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { ReconcileInput } from '../workflows/types';
import type { ReconcilerWorkflow } from '../workflows/reconciler';

export interface ReconcilerScheduleOptions {
  taskQueue: string;
  intervalS: number;
  lookbackHours: number;
}

/**
 * One reconciler Schedule per task queue (`proxbox-intent-reconciler` for the default queue), so deployments and
 * test runs that share a Temporal namespace do not drive each other's workers.
 */
export function reconcilerScheduleId(taskQueue: string): string {
  return `${taskQueue}-reconciler`;
}

function desiredSchedule(opts: ReconcilerScheduleOptions) {
  const input: ReconcileInput = { lookbackHours: opts.lookbackHours };
  const action: ScheduleOptionsStartWorkflowAction<typeof ReconcilerWorkflow> = {
    type: 'startWorkflow',
    workflowType: 'ReconcilerWorkflow',
    workflowId: reconcilerScheduleId(opts.taskQueue),
    taskQueue: opts.taskQueue,
    args: [input],
    // A run stuck on an unreachable NetBox must not block later runs for long (overlapping runs are skipped).
    workflowExecutionTimeout: '30 minutes',
    staticSummary: `Reconcile merged NetBox branches: start any missing apply (look-back ${opts.lookbackHours} h)`,
    staticDetails: 'Lists merged events and merged, opted-in branches in the look-back window and starts the apply of any merge '
      + 'whose webhook was lost, under the same workflow id as the webhook would have used. The result lists what it started.',
  };
  return {
    spec: { intervals: [{ every: `${opts.intervalS}s` }] },
    action,
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute', pauseOnFailure: false },
  };
}

/** What must match for an existing schedule to be left alone. */
function fingerprint(d: { every: number; taskQueue: string; workflowType: string; args: readonly unknown[] }): string {
  return JSON.stringify([d.every, d.taskQueue, d.workflowType, d.args]);
}

function describedFingerprint(d: ScheduleDescription): string | null {
  const interval = d.spec.intervals?.[0];
  if (!interval || d.action.type !== 'startWorkflow' || (d.spec.intervals?.length ?? 0) !== 1) return null;
  return fingerprint({ every: interval.every, taskQueue: d.action.taskQueue, workflowType: d.action.workflowType, args: d.action.args ?? [] });
}

/**
 * Creates the reconciler Schedule, or brings an existing one up to date with this worker's settings. Safe when several
 * workers start at once: creation races end in ScheduleAlreadyRunning, and updates write the same content.
 * A pause set by an operator is kept.
 */
export async function ensureReconcilerSchedule(client: Client, opts: ReconcilerScheduleOptions): Promise<'created' | 'updated' | 'unchanged'> {
  if (!Number.isInteger(opts.intervalS) || opts.intervalS < 1) throw new RangeError(`RECONCILE_INTERVAL_S must be a positive integer, not ${opts.intervalS}`);
  const scheduleId = reconcilerScheduleId(opts.taskQueue);
  const desired = desiredSchedule(opts);
  try {
    await client.schedule.create({ scheduleId, ...desired, state: { note: 'Created by a proxbox-intent worker at start' } });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(scheduleId);
  const want = fingerprint({ every: opts.intervalS * 1000, taskQueue: opts.taskQueue, workflowType: 'ReconcilerWorkflow', args: desired.action.args });
  if (describedFingerprint(await handle.describe()) === want) return 'unchanged';
  await handle.update((prev) => ({ ...prev, spec: desired.spec, action: desired.action, policies: desired.policies }));
  return 'updated';
}
