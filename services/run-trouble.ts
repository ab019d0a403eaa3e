import { WorkflowNotFoundError, type Client } from '@temporalio/client';

/** Why a run is not moving: an activity Temporal keeps retrying, as the API shows it on the job or request. */
export interface RunTrouble {
  activity: string;
  attempt: number;
  lastFailure: string | null;
  nextAttemptAt: string | null;
}

/**
 * The first activity of a run that has failed at least once and is being retried, or null when nothing is stuck
 * (or the run is closed or unknown). Read from Temporal, so every API process sees the same.
 */
export async function runTrouble(temporal: Client, workflowId: string): Promise<RunTrouble | null> {
  let pending;
  try {
    pending = (await temporal.workflow.getHandle(workflowId).describe()).raw.pendingActivities ?? [];
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
  const retried = pending.find((a) => (a.attempt ?? 1) > 1 && a.lastFailure);
  if (!retried) return null;
  const next = retried.scheduledTime?.seconds;
  return {
    activity: retried.activityType?.name ?? 'unknown',
    attempt: retried.attempt ?? 1,
    lastFailure: retried.lastFailure?.message ?? null,
    nextAttemptAt: next ? new Date(Number(next) * 1000).toISOString() : null,
  };
}
