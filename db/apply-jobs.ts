import { and, desc, eq, gt, inArray, isNull, lt, ne, or, sql, type SQL } from 'drizzle-orm';
import type { Db } from './client';
import { applyEvents, applyJobs, applyResults } from './schema';
import { groupCommit } from '../infra/batching';
import { isRowError } from './errors';
import { enqueueDeliveries } from './deliveries';
import { jobSummaryWriteback, vmWritebacks } from '../domain/netbox-writeback';
import { ATTENTION_LIST_CAP, ATTENTION_STATUSES, applyNotifications } from '../domain/notifications';
import { enqueueNotifications } from './notifications';
import { ACTIVE_JOB_STATES, isActiveJobState, jobStateOfCounts, type JobSource, type JobState, type ResultStatus } from '../domain/job-state';

export const APPLY_EVENTS_CHANNEL = 'apply_events';

export type ApplyEventType = (typeof applyEvents.$inferSelect)['type'];

export interface NewJob {
  workflowId: string;
  branchId: number;
  branchSchemaId: string;
  branchName: string;
  mergedAt: Date;
  username: string | null;
  source: JobSource;
  claimedMergedBy?: string | null;
  reapply?: ReapplyRecord | null;
}

/** A deliberate re-apply of a merge older than the look-back window, as recorded on its job. */
export interface ReapplyRecord { by: string; confirmation: string }

/** A claim on starting a job's workflow lapses after this, so a process that died before the start is recovered. */
export const START_CLAIM_TTL_S = 30;

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
/** Results read at once when a closing job writes what NetBox is told. */
const WRITEBACK_PAGE = 1000;

const vmResultOf = (r: typeof applyResults.$inferSelect): VmResult => ({
  key: r.key, vmid: r.vmid, netboxId: r.netboxId, name: r.name, op: r.op, kind: r.kind,
  status: r.status as ResultStatus, reason: r.reason, message: r.message, proxmoxUpid: r.proxmoxUpid,
  deletionRequestId: r.deletionRequestId,
});
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A result upsert, a live-log event, or both; concurrent entries are written by one statement. */
interface JournalEntry {
  jobId: string;
  result?: VmResult;
  event?: { type: ApplyEventType; data: unknown; dedupeKey: string | null };
}

export class ApplyJobStore {
  // One entry can only break a batch with bad data or a broken reference; other errors (connection, timeout) would
  // fail each entry alike, so they fail the batch at once.
  private readonly journal = groupCommit<JournalEntry>((batch) => this.writeJournal(batch), { isolateFailures: isRowError });

  constructor(private readonly db: Db) {}

  /**
   * Creates the job of a merge, or returns the one that exists (redeliveries land here). The unique (schema id, merge
   * time) makes this the one decision of "one apply per merge" across processes. A new row comes with the claim to
   * start its workflow, so concurrent callers that find it leave the start to its creator.
   */
  async ensure(job: NewJob): Promise<{ job: JobRow; created: boolean }> {
    const { reapply, ...rest } = job;
    const [inserted] = await this.db.insert(applyJobs).values({
      ...rest, runUuid: job.workflowId, startClaimedAt: sql`now()`,
      ...(reapply ? { reappliedBy: reapply.by, reappliedAt: sql`now()`, reapplyConfirmation: reapply.confirmation } : {}),
    }).onConflictDoNothing().returning();
    if (inserted) return { job: inserted, created: true };
    const existing = await this.byWorkflowId(job.workflowId)
      ?? (await this.db.select().from(applyJobs).where(and(eq(applyJobs.branchSchemaId, job.branchSchemaId), eq(applyJobs.mergedAt, job.mergedAt))))[0];
    return { job: existing!, created: false };
  }

  /**
   * Takes the claim to start the workflow of a job that never got one (its creator died between the insert and the
   * start, or Temporal was down): only one caller across processes wins, and only while nobody else holds a live
   * claim and the workflow has left no trace (`workflow_started_at`, or the run's own `running` mark).
   */
  async claimStart(jobId: string, reapply?: ReapplyRecord | null): Promise<JobRow | undefined> {
    const [row] = await this.db.update(applyJobs).set({
      startClaimedAt: sql`now()`,
      ...(reapply ? { reappliedBy: reapply.by, reappliedAt: sql`now()`, reapplyConfirmation: reapply.confirmation } : {}),
    }).where(and(
      eq(applyJobs.id, jobId), isNull(applyJobs.workflowStartedAt), isNull(applyJobs.startedAt), eq(applyJobs.state, 'queued'),
      or(isNull(applyJobs.startClaimedAt), lt(applyJobs.startClaimedAt, sql`now() - ${START_CLAIM_TTL_S} * interval '1 second'`)),
    )).returning();
    return row;
  }

  async markWorkflowStarted(jobId: string): Promise<JobRow> {
    const [row] = await this.db.update(applyJobs).set({ workflowStartedAt: sql`coalesce(${applyJobs.workflowStartedAt}, now())` })
      .where(eq(applyJobs.id, jobId)).returning();
    return row!;
  }

  /** Gives the start back after a failed start (Temporal unreachable), so the next delivery or reconcile retries at once. */
  async releaseStartClaim(jobId: string): Promise<void> {
    await this.db.update(applyJobs).set({ startClaimedAt: null }).where(and(eq(applyJobs.id, jobId), isNull(applyJobs.workflowStartedAt)));
  }

  /** Records what a webhook body claimed about who merged when it disagreed with NetBox (it is never used). */
  async recordClaimedMergedBy(jobId: string, claim: string): Promise<JobRow> {
    const [row] = await this.db.update(applyJobs).set({ claimedMergedBy: claim }).where(eq(applyJobs.id, jobId)).returning();
    return row!;
  }

  async byWorkflowId(workflowId: string): Promise<JobRow | undefined> {
    const [row] = await this.db.select().from(applyJobs).where(eq(applyJobs.workflowId, workflowId));
    return row;
  }

  async get(id: string): Promise<JobRow | undefined> {
    const [row] = await this.db.select().from(applyJobs).where(eq(applyJobs.id, id));
    return row;
  }

  async list(filter: { state?: JobState; branchId?: number; username?: string; limit: number; after?: { createdAt: Date; id: string } }): Promise<JobRow[]> {
    const where: SQL[] = [];
    if (filter.state) where.push(eq(applyJobs.state, filter.state));
    if (filter.branchId !== undefined) where.push(eq(applyJobs.branchId, filter.branchId));
    if (filter.username !== undefined) where.push(eq(applyJobs.username, filter.username));
    if (filter.after) {
      where.push(or(lt(applyJobs.createdAt, filter.after.createdAt),
        and(eq(applyJobs.createdAt, filter.after.createdAt), lt(applyJobs.id, filter.after.id)))!);
    }
    return this.db.select().from(applyJobs).where(and(...where))
      .orderBy(desc(applyJobs.createdAt), desc(applyJobs.id)).limit(filter.limit);
  }

  async results(jobId: string): Promise<VmResult[]> {
    const rows = await this.db.select().from(applyResults).where(eq(applyResults.jobId, jobId)).orderBy(applyResults.key);
    return rows.map(vmResultOf);
  }

  /** How many of the job's VM results are in each status (the `_cancelled` entry is not a VM). */
  async resultCounts(jobId: string, db: Pick<Db, 'select'> = this.db): Promise<Partial<Record<ResultStatus, number>>> {
    const rows = await db.select({ status: applyResults.status, n: sql<number>`count(*)::int` }).from(applyResults)
      .where(and(eq(applyResults.jobId, jobId), ne(applyResults.key, CANCELLED_KEY))).groupBy(applyResults.status).orderBy(applyResults.status);
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /**
   * What NetBox is told about a closed job (netbox.md §7.6) and its notifications into the outbox, inside the closing
   * transaction: the VM results are read a page at a time, so a large job is never held whole.
   */
  private async enqueueClosingDeliveries(tx: Pick<Db, 'select' | 'insert' | 'execute'>, job: JobRow, counts: Partial<Record<ResultStatus, number>>, cancelled: boolean): Promise<void> {
    const subject = { type: 'apply_job', id: job.id } as const;
    const ofJob = and(eq(applyResults.jobId, job.id), ne(applyResults.key, CANCELLED_KEY));
    for (let afterKey = ''; ;) {
      const page = await tx.select().from(applyResults).where(and(ofJob, gt(applyResults.key, afterKey)))
        .orderBy(applyResults.key).limit(WRITEBACK_PAGE);
      if (page.length === 0) break;
      afterKey = page.at(-1)!.key;
      await enqueueDeliveries(tx, subject, vmWritebacks(job, page.map(vmResultOf)));
    }
    await enqueueDeliveries(tx, subject, [jobSummaryWriteback(job, counts)]);
    const attention = await tx.select().from(applyResults)
      .where(and(ofJob, inArray(applyResults.status, [...ATTENTION_STATUSES] as ResultStatus[]))).orderBy(applyResults.key).limit(ATTENTION_LIST_CAP);
    await enqueueNotifications(tx, subject, applyNotifications(job, { counts, attention: attention.map(vmResultOf) }, { cancelled, at: new Date() }));
  }

  /**
   * The job a Temporal run may work for: the row with this id whose workflow id is the run's own, not final yet, and
   * not claimed by another run of that workflow id. The first run to ask claims it. A refusal says why.
   */
  async claimForRun(jobId: string, workflowId: string, firstRunId: string): Promise<{ job: JobRow } | { refused: string }> {
    if (!UUID.test(jobId)) return { refused: `'${jobId.slice(0, 60)}' is not an apply job id` };
    const [claimed] = await this.db.update(applyJobs).set({ temporalRunId: firstRunId })
      .where(and(eq(applyJobs.id, jobId), eq(applyJobs.workflowId, workflowId), inArray(applyJobs.state, [...ACTIVE_JOB_STATES]),
        or(isNull(applyJobs.temporalRunId), eq(applyJobs.temporalRunId, firstRunId))))
      .returning();
    if (claimed) return { job: claimed };
    const row = await this.get(jobId);
    if (!row) return { refused: `no apply job ${jobId} exists` };
    // A job this very run claimed and already closed (a retried closing step) is still its own.
    if (row.workflowId === workflowId && row.temporalRunId === firstRunId) return { job: row };
    if (row.workflowId !== workflowId) return { refused: `apply job ${jobId} belongs to workflow ${row.workflowId}, not ${workflowId}` };
    if (!isActiveJobState(row.state)) return { refused: `apply job ${jobId} is already ${row.state}; a merge is applied once` };
    return { refused: `apply job ${jobId} is already being applied by run ${row.temporalRunId}` };
  }

  /**
   * A run that tried to work for a job it does not own: noted on that job's live log when the job exists, so the
   * attempt is on record where operators look. The job's state and results are not touched.
   */
  async recordForeignRun(jobId: string, message: string): Promise<void> {
    if (!UUID.test(jobId) || !(await this.get(jobId))) return;
    await this.appendEvent(jobId, 'log', { level: 'error', message });
  }

  async markRunning(jobId: string): Promise<void> {
    await this.db.update(applyJobs).set({
      state: 'running', startedAt: sql`coalesce(${applyJobs.startedAt}, now())`, workflowStartedAt: sql`coalesce(${applyJobs.workflowStartedAt}, now())`,
    })
      .where(and(eq(applyJobs.id, jobId), eq(applyJobs.state, 'queued')));
  }

  async setDrift(jobId: string, drift: Record<string, unknown>): Promise<void> {
    await this.db.update(applyJobs).set({ drift }).where(eq(applyJobs.id, jobId));
  }

  async setError(jobId: string, error: string | null): Promise<void> {
    await this.db.update(applyJobs).set({ error }).where(eq(applyJobs.id, jobId));
  }

  /** Upserts one VM's outcome; a retried activity overwrites its own row instead of adding one. */
  recordResult(jobId: string, result: VmResult): Promise<void> {
    return this.journal({ jobId, result });
  }

  /** One VM's outcome and its `result` event on the live log, written together. */
  recordOutcome(jobId: string, result: VmResult): Promise<void> {
    return this.journal({ jobId, result, event: { type: 'result', data: result, dedupeKey: `result:${result.key}:${result.status}` } });
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

  /**
   * Results for VMs whose write never settled in this run (never dispatched, or abandoned by a forced cancel): each is
   * written only where the VM has no result yet, so a write that did finish keeps its real outcome, whichever lands
   * first. Each written result is announced on the live log.
   */
  async recordUnsettled(jobId: string, results: VmResult[]): Promise<void> {
    if (results.length === 0) return;
    const rows = results.map((r) => ({
      key: r.key, vmid: r.vmid, netbox_id: r.netboxId, name: r.name, op: r.op, kind: r.kind, status: r.status, reason: r.reason, message: r.message,
    }));
    await this.db.execute(sql`
      with inserted as (
        insert into ${applyResults} (job_id, key, vmid, netbox_id, name, op, kind, status, reason, message)
        select ${jobId}::uuid, key, vmid, netbox_id, name, op, kind, status, reason, message
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(key text, vmid integer, netbox_id integer, name text, op text, kind text,
          status text, reason text, message text)
        on conflict (job_id, key) do nothing
        returning *
      ), appended as (
        insert into ${applyEvents} (job_id, type, data, dedupe_key)
        select job_id, 'result', jsonb_build_object('key', key, 'vmid', vmid, 'netboxId', netbox_id, 'name', name, 'op', op, 'kind', kind,
          'status', status, 'reason', reason, 'message', message, 'proxmoxUpid', null, 'deletionRequestId', null), 'result:' || key || ':' || status
        from inserted
        on conflict do nothing returning job_id, id
      )
      select pg_notify(${APPLY_EVENTS_CHANNEL}, job_id || ':' || id) from appended`);
  }

  /** Jobs not yet final, oldest first. */
  async active(filter: { createdBefore: Date; limit: number }): Promise<JobRow[]> {
    return this.db.select().from(applyJobs)
      .where(and(inArray(applyJobs.state, [...ACTIVE_JOB_STATES]), lt(applyJobs.createdAt, filter.createdBefore)))
      .orderBy(applyJobs.createdAt).limit(filter.limit);
  }

  /** Closes a job whose run is gone: `failed` with why, and the live log's `complete`. False when it was final already. */
  async closeOrphan(jobId: string, error: string): Promise<boolean> {
    const row = await this.db.transaction(async (tx) => {
      const [closed] = await tx.update(applyJobs).set({ state: 'failed', error, finishedAt: sql`coalesce(${applyJobs.finishedAt}, now())` })
        .where(and(eq(applyJobs.id, jobId), inArray(applyJobs.state, [...ACTIVE_JOB_STATES]))).returning();
      if (closed) await this.enqueueClosingDeliveries(tx, closed, await this.resultCounts(jobId, tx), false);
      return closed;
    });
    if (!row) return false;
    await this.appendEvent(jobId, 'complete', { state: 'failed', error }, 'complete');
    return true;
  }

  /**
   * Computes the final state from the stored results (the documented rule) and closes the job once; what NetBox is
   * told about it (netbox.md §7.6) and the notifications enter the outbox in the same transaction.
   */
  async finish(jobId: string, opts: { cancelled: boolean; runFailed?: boolean; error?: string; drift?: Record<string, unknown> }): Promise<JobRow> {
    const counts = await this.resultCounts(jobId);
    const state = opts.runFailed ? 'failed' : jobStateOfCounts(counts, opts.cancelled);
    return this.db.transaction(async (tx) => {
      const [row] = await tx.update(applyJobs)
        .set({ state, finishedAt: sql`coalesce(${applyJobs.finishedAt}, now())`, error: opts.error ?? null, ...(opts.drift ? { drift: opts.drift } : {}) })
        .where(eq(applyJobs.id, jobId)).returning();
      await this.enqueueClosingDeliveries(tx, row!, counts, opts.cancelled);
      return row!;
    });
  }

  /** Appends a live-log event once (dedupeKey makes activity retries harmless) and announces it. */
  appendEvent(jobId: string, type: ApplyEventType, data: unknown, dedupeKey?: string): Promise<void> {
    return this.journal({ jobId, event: { type, data, dedupeKey: dedupeKey ?? null } });
  }

  /**
   * Results and events of every concurrent caller in one statement: the upserts, the inserts in submission order
   * and their NOTIFY commit together, so listeners hear only of committed rows and nothing is written twice.
   */
  private async writeJournal(batch: JournalEntry[]): Promise<void> {
    const latest = new Map<string, JournalEntry>();
    for (const e of batch) if (e.result) latest.set(`${e.jobId}\u0000${e.result.key}`, e);
    const results = [...latest.values()].map(({ jobId, result: r }) => ({
      job_id: jobId, key: r!.key, vmid: r!.vmid, netbox_id: r!.netboxId, name: r!.name, op: r!.op, kind: r!.kind, status: r!.status,
      reason: r!.reason, message: r!.message, proxmox_upid: r!.proxmoxUpid, deletion_request_id: r!.deletionRequestId,
    }));
    const events = batch.filter((e) => e.event).map(({ jobId, event: ev }) => ({ job_id: jobId, type: ev!.type, data: ev!.data ?? null, dedupe_key: ev!.dedupeKey }));
    await this.db.execute(sql`
      with upserted as (
        insert into ${applyResults} (job_id, key, vmid, netbox_id, name, op, kind, status, reason, message, proxmox_upid, deletion_request_id)
        select job_id, key, vmid, netbox_id, name, op, kind, status, reason, message, proxmox_upid, deletion_request_id
        from jsonb_to_recordset(${JSON.stringify(results)}::jsonb) as r(job_id uuid, key text, vmid integer, netbox_id integer, name text,
          op text, kind text, status text, reason text, message text, proxmox_upid text, deletion_request_id integer)
        on conflict (job_id, key) do update set vmid = excluded.vmid, netbox_id = excluded.netbox_id, name = excluded.name, op = excluded.op,
          kind = excluded.kind, status = excluded.status, reason = excluded.reason, message = excluded.message,
          proxmox_upid = excluded.proxmox_upid, deletion_request_id = excluded.deletion_request_id, updated_at = now()
      ), appended as (
        insert into ${applyEvents} (job_id, type, data, dedupe_key)
        select (e->>'job_id')::uuid, e->>'type', e->'data', e->>'dedupe_key'
        from jsonb_array_elements(${JSON.stringify(events)}::jsonb) with ordinality as x(e, ord) order by ord
        on conflict do nothing returning job_id, id
      )
      select pg_notify(${APPLY_EVENTS_CHANNEL}, job_id || ':' || id) from appended`);
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
