import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { toEpochMs, type Branch } from '../contracts/netbox';
import type { NetboxClient } from '../clients/netbox';
import type { ApplyJobStore, JobRow } from '../db/apply-jobs';
import { startDecision } from '../domain/merge-eligibility';
import { applyRunId } from '../domain/run-identity';
import type { ApplyWorkflowInput } from '../activities/types';
import { SA_BRANCH, SA_STATE, SA_USER } from '../workflows/definitions';

export type StartOutcome =
  | { outcome: 'started' | 'existing'; job: JobRow }
  | { outcome: 'ignored'; reason: string };

export interface ApplyStarterDeps {
  netbox: NetboxClient;
  jobs: ApplyJobStore;
  temporal: Client;
  taskQueue: string;
  maxConcurrency: number;
}

/**
 * Starts the ApplyWorkflow of one merge exactly once. The workflow id is derived from the branch and its merge
 * time, so webhook redeliveries, concurrent deliveries, the manual API and the reconciler all converge on one run.
 */
export class ApplyStarter {
  constructor(private readonly deps: ApplyStarterDeps) {}

  /** Re-reads the branch from NetBox (a webhook is only a hint) and starts the apply of its current merge. */
  async startForBranch(branchId: number, source: JobRow['source'], mergedBy?: string | null): Promise<StartOutcome> {
    return this.startForMerge(await this.deps.netbox.branch(branchId), source, mergedBy);
  }

  /** Starts the apply of a branch's merge from a branch just read from NetBox's REST API. */
  async startForMerge(branch: Branch, source: JobRow['source'], mergedBy?: string | null): Promise<StartOutcome> {
    const decision = startDecision(branch);
    if (!decision.start) return { outcome: 'ignored', reason: decision.reason };
    const workflowId = applyRunId(branch.schema_id, branch.merged_time!);
    const mergedTimeMs = toEpochMs(branch.merged_time!);
    const username = mergedBy ?? branch.merged_by?.username ?? null;
    const { job, created } = await this.deps.jobs.ensure({
      workflowId, branchId: branch.id, branchSchemaId: branch.schema_id, branchName: branch.name,
      mergedAt: new Date(mergedTimeMs), username, source,
    });
    const input: ApplyWorkflowInput = {
      jobId: job.id, branchId: branch.id, schemaId: branch.schema_id, mergedTimeMs, username: job.username, maxConcurrency: this.deps.maxConcurrency,
    };
    try {
      await this.deps.temporal.workflow.start('ApplyWorkflow', {
        workflowId,
        taskQueue: this.deps.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: SA_BRANCH, value: branch.schema_id },
          { key: SA_STATE, value: 'queued' },
          ...(job.username ? [{ key: SA_USER, value: job.username }] : []),
        ],
        staticSummary: `Apply branch ${branch.name} (#${branch.id}) merged by ${job.username ?? 'unknown'}`,
        staticDetails: `Merge at ${new Date(mergedTimeMs).toISOString()}; job ${job.id}; started by ${source}.`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    return { outcome: created ? 'started' : 'existing', job };
  }
}
