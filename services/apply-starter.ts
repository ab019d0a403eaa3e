import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { toEpochMs, type Branch } from '../contracts/netbox';
import type { NetboxClient } from '../clients/netbox';
import type { ApplyJobStore, JobRow, ReapplyRecord } from '../db/apply-jobs';
import { mergeAdmission, mergedByMismatch, startDecision, type Admission, type MergedByClaim } from '../domain/merge-eligibility';
import { applyRunId } from '../domain/run-identity';
import type { ApplyWorkflowInput } from '../workflows/types';
import { SA_BRANCH, SA_STATE, SA_USER } from '../workflows/definitions';
import { logger } from '../infra/logger';

export type StartOutcome =
  | { outcome: 'started' | 'existing'; job: JobRow }
  | { outcome: 'ignored'; reason: string }
  /** A merge without a job that may not get one: older than the look-back window, or a re-apply mistyped. */
  | { outcome: 'refused'; code: 'merge_too_old' | 'typed_confirmation_required'; detail: string };

export interface StartOptions {
  /** Who merged according to a webhook body: recorded (job and log) when it disagrees with NetBox, never used. */
  claimedMergedBy?: MergedByClaim;
  /** A deliberate re-apply of a merge older than the look-back window; the caller checked `reapply_merge`. */
  reapply?: { by: string; confirmation: string };
}

export interface ApplyStarterDeps {
  netbox: NetboxClient;
  jobs: ApplyJobStore;
  temporal: Client;
  taskQueue: string;
  maxConcurrency: number;
  /** RECONCILE_LOOKBACK_H: merges older than this are not applied (the webhook and the API refuse them). */
  lookbackHours: number;
  now?: () => number;
  log?: (msg: string) => void;
}

/**
 * Starts the ApplyWorkflow of one merge exactly once. PostgreSQL decides: the job row, unique per (branch schema id,
 * merge time), is inserted first, and only the caller that created it (or that later claims a row whose workflow never
 * started) starts the workflow. A merge that has a job never gets another run, whatever Temporal still remembers.
 */
export class ApplyStarter {
  constructor(private readonly deps: ApplyStarterDeps) {}

  /** Re-reads the branch from NetBox (a webhook is only a hint) and starts the apply of its current merge. */
  async startForBranch(branchId: number, source: JobRow['source'], opts: StartOptions = {}): Promise<StartOutcome> {
    return this.startForMerge(await this.deps.netbox.branch(branchId), source, opts);
  }

  /** Starts the apply of a branch's merge from a branch just read from NetBox's REST API. */
  async startForMerge(branch: Branch, source: JobRow['source'], opts: StartOptions = {}): Promise<StartOutcome> {
    const decision = startDecision(branch);
    if (!decision.start) return { outcome: 'ignored', reason: decision.reason };
    const workflowId = applyRunId(branch.schema_id, branch.merged_time!);
    const mergedTimeMs = toEpochMs(branch.merged_time!);
    const claim = mergedByMismatch(branch.merged_by, opts.claimedMergedBy);
    if (claim) (this.deps.log ?? ((m: string) => logger().warn(m)))(`merge ${workflowId} of branch ${branch.id}: ${claim}; the webhook's claim is ignored`);
    const admission = mergeAdmission({
      branchId: branch.id, branchName: branch.name, workflowId, mergedTimeMs, nowMs: (this.deps.now ?? Date.now)(),
      lookbackHours: this.deps.lookbackHours, reapplyConfirmation: opts.reapply?.confirmation,
    });
    const reapply = admission.admit && admission.reapplied ? opts.reapply! : null;

    const existing = await this.deps.jobs.byWorkflowId(workflowId);
    if (existing) return this.resume(existing, branch, admission, reapply, claim);
    if (!admission.admit) return { outcome: 'refused', code: admission.code, detail: admission.detail };
    const { job, created } = await this.deps.jobs.ensure({
      workflowId, branchId: branch.id, branchSchemaId: branch.schema_id, branchName: branch.name, mergedAt: new Date(mergedTimeMs),
      // Who merged is NetBox's REST answer, never the webhook body.
      username: branch.merged_by?.username ?? null, source, claimedMergedBy: claim, reapply,
    });
    if (!created) return this.resume(job, branch, admission, reapply, claim);
    return { outcome: 'started', job: await this.launch(job, branch, source) };
  }

  /** A merge whose job exists: never a second run; only a workflow that never started is started, by one caller. */
  private async resume(job: JobRow, branch: Branch, admission: Admission, reapply: ReapplyRecord | null, claim: string | null): Promise<StartOutcome> {
    let current = claim ? await this.deps.jobs.recordClaimedMergedBy(job.id, claim) : job;
    if (admission.admit) {
      const claimed = await this.deps.jobs.claimStart(job.id, reapply);
      if (claimed) return { outcome: 'started', job: await this.launch(claimed, branch, claimed.source) };
      current = (await this.deps.jobs.get(job.id)) ?? current;
    }
    return { outcome: 'existing', job: current };
  }

  /** Starts the workflow of a job this caller holds the start claim of, and marks it started. */
  private async launch(job: JobRow, branch: Branch, source: JobRow['source']): Promise<JobRow> {
    const mergedTimeMs = job.mergedAt.getTime();
    const input: ApplyWorkflowInput = {
      jobId: job.id, branchId: branch.id, schemaId: branch.schema_id, mergedTimeMs, username: job.username, maxConcurrency: this.deps.maxConcurrency,
    };
    try {
      await this.deps.temporal.workflow.start('ApplyWorkflow', {
        workflowId: job.workflowId,
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
        staticDetails: `Merge at ${new Date(mergedTimeMs).toISOString()}; job ${job.id}; started by ${source}`
          + `${job.reappliedBy ? `; re-applied deliberately by ${job.reappliedBy}` : ''}.`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
        await this.deps.jobs.releaseStartClaim(job.id).catch(() => { /* the claim lapses on its own */ });
        throw err;
      }
    }
    return this.deps.jobs.markWorkflowStarted(job.id);
  }
}
