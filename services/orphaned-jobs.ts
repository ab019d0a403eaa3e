import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ApplyJobStore } from '../db/apply-jobs';
import type { ClosedOrphan } from '../workflows/types';

/**
 * Jobs still `queued` or `running` whose workflow has closed anyway (terminated, timed out, or failed in a way its
 * own code could not record): each is closed `failed` with the run's status, so no job stays running for ever and
 * its live log ends. Jobs whose workflow Temporal does not know are left to the starter.
 */
export async function closeOrphanedJobs(jobs: ApplyJobStore, temporal: Client, opts: { olderThanMs: number; limit?: number }): Promise<ClosedOrphan[]> {
  const closed: ClosedOrphan[] = [];
  for (const job of await jobs.active({ createdBefore: new Date(Date.now() - opts.olderThanMs), limit: opts.limit ?? 200 })) {
    let status: string;
    try {
      status = (await temporal.workflow.getHandle(job.workflowId).describe()).status.name;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) continue;
      throw err;
    }
    if (status === 'RUNNING' || status === 'CONTINUED_AS_NEW') continue;
    const finished = await jobs.closeOrphan(job.id, `The run ended (${status.toLowerCase().replace(/_/g, ' ')}) without closing this job; nothing more will be applied. See the run in the Temporal UI.`);
    if (finished) closed.push({ jobId: job.id, workflowId: job.workflowId, status });
  }
  return closed;
}
