import { isActiveJobState } from '../domain/job-state';
import { CancelledFailure, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { UpstreamError } from '../clients/errors';
import type { ApplyJobStore, JobRow, VmResult } from '../db/apply-jobs';
import type { AuditLog } from '../db/audit-log';
import type { DeliveryStore } from '../db/deliveries';
import type { DeliverySummary } from '../domain/deliveries';
import type { AuthenticatedUser } from '../db/users';
import type { MergedByClaim } from '../domain/merge-eligibility';
import { ONLY_ACTIVE_JOBS_CANCEL } from '../domain/messages';
import { hasPermission } from '../domain/permissions';
import { cancelRequestedSignal } from '../workflows/definitions';
import type { ApplyStarter } from './apply-starter';
import { refuse, type Refusal } from './refusal';
import { runTrouble, type RunTrouble } from './run-trouble';

/** A job with its per-VM results, as the use cases answer it. */
export interface JobWithResults { ok: true; job: JobRow; results: VmResult[] }

export type StartRefusalCode = 'permission_denied' | 'branch_not_found' | 'not_applicable' | 'merge_too_old' | 'typed_confirmation_required';
export type StartResult = (JobWithResults & { outcome: 'started' | 'existing' }) | Refusal<StartRefusalCode>;

export type WebhookStartResult =
  | { ok: true; outcome: 'started' | 'existing'; job: JobRow }
  | { ok: true; outcome: 'ignored'; reason: string }
  | Refusal<'merge_too_old' | 'typed_confirmation_required'>;

export interface ApplyJobServiceDeps {
  /** Deliberate re-applies are administrative changes: they go to the audit log. */
  audit: AuditLog;
  jobs: ApplyJobStore;
  /** What NetBox was told about each job (netbox.md §7.6). */
  deliveries: DeliveryStore;
  starter: ApplyStarter;
  temporal: Client;
  /** How long a cancel waits for the run to close before answering "still stopping" (202). */
  cancelWaitMs?: number;
  log?: (msg: string) => void;
}

const NOT_FOUND = 'No apply job with this id.';
const isActive = (job: JobRow) => isActiveJobState(job.state);

/** The use cases of apply jobs: starting one (by a user or NetBox's webhook), reading one, cancelling one. */
export class ApplyJobService {
  constructor(private readonly deps: ApplyJobServiceDeps) {}

  async show(id: string): Promise<(JobWithResults & { trouble: RunTrouble | null; netboxWriteback: DeliverySummary; notifications: DeliverySummary }) | Refusal<'not_found'>> {
    const job = await this.deps.jobs.get(id);
    if (!job) return refuse('not_found', NOT_FOUND);
    const [results, trouble, netboxWriteback, notifications] = await Promise.all([
      this.deps.jobs.results(job.id), isActive(job) ? runTrouble(this.deps.temporal, job.workflowId) : null,
      this.deps.deliveries.summary('apply_job', job.id), this.deps.deliveries.summary('apply_job', job.id, 'notifications'),
    ]);
    return { ok: true, job, results, trouble, netboxWriteback, notifications };
  }

  /**
   * A user starts the apply of a merged branch; a merge older than the look-back window needs `reapply_merge` and the
   * typed confirmation, and such a deliberate re-apply is audited.
   */
  async start(branchId: number, user: AuthenticatedUser, reapplyConfirmation?: string): Promise<StartResult> {
    if (reapplyConfirmation !== undefined && !hasPermission(user.permissions, 'reapply_merge')) {
      return refuse('permission_denied', "permission denied: re-applying a merge older than the look-back window requires 'reapply_merge'.");
    }
    let result;
    try {
      result = await this.deps.starter.startForBranch(branchId, 'api',
        reapplyConfirmation !== undefined ? { reapply: { by: user.username, confirmation: reapplyConfirmation } } : {});
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'not_found') return refuse('branch_not_found', `NetBox has no branch ${branchId}.`);
      throw err;
    }
    if (result.outcome === 'ignored') return refuse('not_applicable', result.reason);
    if (result.outcome === 'refused') return refuse(result.code, result.detail);
    if (result.outcome === 'started' && result.job.reappliedBy) {
      await this.deps.audit.record({
        actor: user.username, action: 'apply_job.reapply', target: `apply_job:${result.job.id}`,
        changes: { workflowId: { from: null, to: result.job.workflowId }, confirmation: { from: null, to: reapplyConfirmation ?? null } },
      });
      this.deps.log?.(`merge ${result.job.workflowId} re-applied deliberately by ${user.username} (job ${result.job.id})`);
    }
    return { ok: true, outcome: result.outcome, job: result.job, results: await this.deps.jobs.results(result.job.id) };
  }

  /** NetBox reported a merge: who merged is read from NetBox, the webhook's claim is only compared (and recorded). */
  async startFromWebhook(branchId: number, claimedMergedBy: MergedByClaim): Promise<WebhookStartResult> {
    let result;
    try {
      result = await this.deps.starter.startForBranch(branchId, 'webhook', { claimedMergedBy });
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      // A deleted branch took its ChangeDiffs with it: there is nothing left to apply, and asking again will not help.
      if (err.kind === 'not_found') return { ok: true, outcome: 'ignored', reason: `Branch ${branchId} no longer exists in NetBox` };
      // Any other failure is NetBox's to retry (or the reconciler's to catch): nothing has started.
      throw new UpstreamError(err.system, err.kind, `Could not confirm the merge with NetBox: ${err.message}`, err.status, err.retryAfterS);
    }
    if (result.outcome === 'ignored') return { ok: true, outcome: 'ignored', reason: result.reason };
    if (result.outcome === 'refused') return refuse(result.code, result.detail);
    return { ok: true, outcome: result.outcome, job: result.job };
  }

  /**
   * Asks the run to stop (`force` stops waiting for writes already sent; their VMs become unknown outcomes) and waits
   * a little for it to close. A job whose workflow never started (Temporal was down at the merge) is closed here.
   */
  async cancel(id: string, by: string, force: boolean): Promise<JobWithResults | Refusal<'not_found' | 'invalid_state'>> {
    const { jobs } = this.deps;
    const job = await jobs.get(id);
    if (!job) return refuse('not_found', NOT_FOUND);
    if (!isActive(job)) return refuse('invalid_state', ONLY_ACTIVE_JOBS_CANCEL);
    const handle = this.deps.temporal.workflow.getHandle(job.workflowId);
    try {
      await handle.signal(cancelRequestedSignal, { by, ...(force ? { force } : {}) });
      // A forced cancel usually follows a graceful one, whose cancellation request Temporal already holds.
      await handle.cancel().catch((err: unknown) => { if (!force) throw err; });
      await waitForClose(handle.result(), this.deps.cancelWaitMs ?? 15_000);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      await jobs.cancel(job.id, by, []);
    }
    return { ok: true, job: (await jobs.get(job.id))!, results: await jobs.results(job.id) };
  }
}

async function waitForClose(result: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    result.catch((err: unknown) => {
      if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) return;
      if (err instanceof WorkflowFailedError) return;
      throw err;
    }),
    new Promise<void>((r) => { timer = setTimeout(r, ms); }),
  ]).finally(() => clearTimeout(timer));
}
