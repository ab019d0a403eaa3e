import { and, desc, eq, gt, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from './client';
import { applyEvents, applyJobs, applyResults } from './schema';
import { jobStateOf, type FinalJobState, type ResultStatus } from '../domain/job-state';

export const APPLY_EVENTS_CHANNEL = 'apply_events';

export type JobState = 'queued' | 'running' | FinalJobState;
export type ApplyEventType = 'plan_summary' | 'dispatch' | 'result' | 'log' | 'complete';

export interface NewJob {
  workflowId: string;
  branchId: number;
  branchSchemaId: string;
  branchName: string;
  mergedAt: Date;
  username: string | null;
  source: 'webhook' | 'api' | 'reconciler';
}

export interface VmResult {
  key: string;
  vmid: number | null;
  netboxId: number | null;
  name: string | null;
  op: string;
  kind: string | null;
  status: ResultStatus;
  reason: string | null;
  message: string;
  proxmoxUpid: string | null;
  deletionRequestId: number | null;
}

export type JobRow = typeof applyJobs.$inferSelect;
export type ApplyEventRow = typeof applyEvents.$inferSelect;

export const CANCELLED_KEY = '_cancelled';

export class ApplyJobStore {
  constructor(private readonly db: Db) {}

  /** Creates the job for a workflow id, or returns the one that exists (redeliveries land here). */
  async ensure(job: NewJob): Promise<{ job: JobRow; created: boolean }> {
    const [inserted] = await this.db.insert(applyJobs).values({ ...job, runUuid: job.workflowId })
      .onConflictDoNothing({ target: applyJobs.workflowId }).returning();
    if (inserted) return { job: inserted, created: true };
    const existing = await this.byWorkflowId(job.workflowId);
    return { job: existing!, created: false };
  }

  async byWorkflowId(workflowId: string): Promise<JobRow | undefined> {
    const [row] = await this.db.select().from(applyJobs).where(eq(applyJobs.workflowId, workflowId));
    return row;
  }

  async get(id: string): Promise<JobRow | undefined> {
    const [row] = await this.db.select().from(applyJobs).where(eq(applyJobs.id, id));
    return row;
  }

  async list(filter: { state?: JobState; branchId?: number; limit: number; after?: { createdAt: Date; id: string } }): Promise<JobRow[]> {
    const where: SQL[] = [];
    if (filter.state) where.push(eq(applyJobs.state, filter.state));
    if (filter.branchId !== undefined) where.push(eq(applyJobs.branchId, filter.branchId));
    if (filter.after) {
      where.push(or(lt(applyJobs.createdAt, filter.after.createdAt),
        and(eq(applyJobs.createdAt, filter.after.createdAt), lt(applyJobs.id, filter.after.id)))!);
    }
    return this.db.select().from(applyJobs).where(and(...where))
      .orderBy(desc(applyJobs.createdAt), desc(applyJobs.id)).limit(filter.limit);
  }

  async results(jobId: string): Promise<VmResult[]> {
    const rows = await this.db.select().from(applyResults).where(eq(applyResults.jobId, jobId)).orderBy(applyResults.key);
    return rows.map((r) => ({
      key: r.key, vmid: r.vmid, netboxId: r.netboxId, name: r.name, op: r.op, kind: r.kind,
      status: r.status as ResultStatus, reason: r.reason, message: r.message, proxmoxUpid: r.proxmoxUpid,
      deletionRequestId: r.deletionRequestId,
    }));
  }

  async markRunning(jobId: string, username: string | null): Promise<void> {
    await this.db.update(applyJobs).set({ state: 'running', startedAt: sql`coalesce(${applyJobs.startedAt}, now())`, username })
      .where(and(eq(applyJobs.id, jobId), eq(applyJobs.state, 'queued')));
  }

  async setDrift(jobId: string, drift: Record<string, unknown>): Promise<void> {
    await this.db.update(applyJobs).set({ drift }).where(eq(applyJobs.id, jobId));
  }

  async setError(jobId: string, error: string | null): Promise<void> {
    await this.db.update(applyJobs).set({ error }).where(eq(applyJobs.id, jobId));
  }

  /** Upserts one VM's outcome; a retried activity overwrites its own row instead of adding one. */
  async recordResult(jobId: string, result: VmResult): Promise<void> {
    const { key, ...rest } = result;
    await this.db.insert(applyResults).values({ jobId, key, ...rest })
      .onConflictDoUpdate({ target: [applyResults.jobId, applyResults.key], set: { ...rest, updatedAt: new Date() } });
  }

  /**
   * Closes a cancelled job: keeps what was applied, adds the `_cancelled` entry naming who cancelled and the
   * deletion requests that stay pending on their own lifecycle, and tells the live log.
   */
  async cancel(jobId: string, by: string | null, pendingDeletionRequestIds: number[]): Promise<JobRow> {
    const message = `Cancelled${by ? ` by ${by}` : ''}; results already applied are kept.` +
      (pendingDeletionRequestIds.length ? ` Deletion requests ${pendingDeletionRequestIds.join(', ')} stay pending on their own lifecycle.` : '');
    await this.recordResult(jobId, {
      key: CANCELLED_KEY, vmid: null, netboxId: null, name: null, op: 'cancel', kind: null, status: 'cancelled',
      reason: 'cancelled', message, proxmoxUpid: null, deletionRequestId: null,
    });
    const job = await this.finish(jobId, { cancelled: true });
    await this.appendEvent(jobId, 'complete', { state: job.state, cancelled: true, pendingDeletionRequestIds }, 'complete');
    return job;
  }

  /** Computes the final state from the stored results (the documented rule) and closes the job once. */
  async finish(jobId: string, opts: { cancelled: boolean; error?: string; drift?: Record<string, unknown> }): Promise<JobRow> {
    const results = (await this.results(jobId)).filter((r) => r.key !== CANCELLED_KEY);
    const state = jobStateOf(results.map((r) => r.status), opts.cancelled);
    const [row] = await this.db.update(applyJobs)
      .set({ state, finishedAt: sql`coalesce(${applyJobs.finishedAt}, now())`, error: opts.error ?? null, ...(opts.drift ? { drift: opts.drift } : {}) })
      .where(eq(applyJobs.id, jobId)).returning();
    return row!;
  }

  /** Appends a live-log event once (dedupeKey makes activity retries harmless) and announces it. */
  async appendEvent(jobId: string, type: ApplyEventType, data: unknown, dedupeKey?: string): Promise<void> {
    // Insert and NOTIFY in one statement: one round trip, and listeners hear only of committed rows.
    await this.db.execute(sql`
      with ins as (
        insert into ${applyEvents} (job_id, type, data, dedupe_key)
        values (${jobId}, ${type}, ${JSON.stringify(data)}::jsonb, ${dedupeKey ?? null})
        on conflict do nothing returning id
      )
      select pg_notify(${APPLY_EVENTS_CHANNEL}, ${jobId} || ':' || id) from ins`);
  }

  async eventsAfter(jobId: string, afterId: number): Promise<ApplyEventRow[]> {
    return this.db.select().from(applyEvents).where(and(eq(applyEvents.jobId, jobId), gt(applyEvents.id, afterId)))
      .orderBy(applyEvents.id);
  }

  async byIds(ids: string[]): Promise<JobRow[]> {
    if (ids.length === 0) return [];
    return this.db.select().from(applyJobs).where(inArray(applyJobs.id, ids));
  }
}
