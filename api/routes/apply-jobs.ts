import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { CancelledFailure, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ApplyJobStore } from '../../db/apply-jobs';
import type { AuditLog } from '../../db/audit-log';
import type { ApplyStarter } from '../../services/apply-starter';
import { UpstreamError } from '../../clients/errors';
import { ONLY_ACTIVE_JOBS_CANCEL } from '../../domain/messages';
import { JOB_STATES } from '../../domain/job-state';
import { cancelRequestedSignal } from '../../workflows/definitions';
import { hasPermission } from '../../domain/permissions';
import { requirePermission, type AuthEnv } from '../auth';
import type { QuotaRule, QuotaStore } from '../../db/quotas';
import type { ApplyEventHub } from '../event-hub';
import { tooManyRequests } from '../rate-limits';
import { ListQuery, decodeCursor, page } from '../pagination';
import { problem } from '../problem';
import { validate } from '../validation';
import { jobView, type TemporalLinks } from '../views';
import { runTrouble } from '../../services/run-trouble';

export const JobListQuery = ListQuery.extend({
  state: z.enum(JOB_STATES).optional(),
  branchId: z.coerce.number().int().positive().optional(),
});
export const StartApplyBody = z.strictObject({
  branchId: z.number().int().positive(),
  /** Only for a merge older than RECONCILE_LOOKBACK_H: `reapply <workflow id>`, typed by a user with `reapply_merge`. */
  reapplyConfirmation: z.string().max(200).optional(),
});
/** `force=true` stops waiting for writes already sent; their VMs are recorded as unknown outcomes. */
const CancelQuery = z.strictObject({ force: z.enum(['true', 'false']).optional() });
const IdParam = z.object({ id: z.uuid({ error: 'must be an apply job id (a UUID)' }) });
const JobCursor = z.object({ createdAt: z.iso.datetime(), id: z.uuid() });

export interface ApplyJobRouteDeps {
  /** Deliberate re-applies are administrative changes: they go to the audit log. */
  audit: AuditLog;
  jobs: ApplyJobStore;
  starter: ApplyStarter;
  temporal: Client;
  links: TemporalLinks;
  hub: ApplyEventHub;
  cancelWaitMs?: number;
  log?: (msg: string) => void;
  /** The per-user cap on concurrent event streams (leases that last `rule.ttlMs` unless renewed). */
  streams: { quotas: QuotaStore; rule: QuotaRule };
}

export function applyJobRoutes(deps: ApplyJobRouteDeps) {
  const { jobs, links } = deps;
  return new Hono<AuthEnv>()
    .get('/', requirePermission('view'), validate('query', JobListQuery), async (c) => {
      const q = c.req.valid('query');
      const after = decodeCursor(q.cursor, JobCursor);
      const rows = await jobs.list({ limit: q.limit, ...(q.state ? { state: q.state } : {}), ...(q.branchId ? { branchId: q.branchId } : {}),
        ...(after ? { after: { createdAt: new Date(after.createdAt), id: after.id } } : {}) });
      const body = page(rows, q.limit, (last) => ({ createdAt: last.createdAt.toISOString(), id: last.id }));
      return c.json({ items: body.items.map((j) => jobView(j, null, links)), nextCursor: body.nextCursor });
    })
    .post('/', requirePermission('trigger_apply'), validate('json', StartApplyBody), async (c) => {
      const { branchId, reapplyConfirmation } = c.req.valid('json');
      const user = c.get('user');
      if (reapplyConfirmation !== undefined && !hasPermission(user.permissions, 'reapply_merge')) {
        return problem(c, 403, 'permission_denied', "permission denied: re-applying a merge older than the look-back window requires 'reapply_merge'.");
      }
      try {
        const result = await deps.starter.startForBranch(branchId, 'api',
          reapplyConfirmation !== undefined ? { reapply: { by: user.username, confirmation: reapplyConfirmation } } : {});
        if (result.outcome === 'ignored') return problem(c, 422, 'not_applicable', result.reason);
        if (result.outcome === 'refused') return problem(c, result.code === 'merge_too_old' ? 409 : 422, result.code, result.detail);
        if (result.outcome === 'started' && result.job.reappliedBy) {
          await deps.audit.record({
            actor: user.username, action: 'apply_job.reapply', target: `apply_job:${result.job.id}`,
            changes: { workflowId: { from: null, to: result.job.workflowId }, confirmation: { from: null, to: reapplyConfirmation ?? null } },
          });
          deps.log?.(`merge ${result.job.workflowId} re-applied deliberately by ${user.username} (job ${result.job.id})`);
        }
        const view = jobView(result.job, await jobs.results(result.job.id), links);
        return c.json(view, result.outcome === 'started' ? 202 : 200);
      } catch (err) {
        if (err instanceof UpstreamError) {
          return err.kind === 'not_found' ? problem(c, 404, 'branch_not_found', `NetBox has no branch ${c.req.valid('json').branchId}.`)
            : problem(c, 502, 'netbox_unavailable', err.message);
        }
        throw err;
      }
    })
    .get('/:id', requirePermission('view'), validate('param', IdParam), async (c) => {
      const job = await jobs.get(c.req.valid('param').id);
      if (!job) return problem(c, 404, 'not_found', 'No apply job with this id.');
      const active = job.state === 'queued' || job.state === 'running';
      return c.json({ ...jobView(job, await jobs.results(job.id), links), trouble: active ? await runTrouble(deps.temporal, job.workflowId) : null });
    })
    .post('/:id/cancel', requirePermission('cancel_apply_job'), validate('param', IdParam), validate('query', CancelQuery), async (c) => {
      const job = await jobs.get(c.req.valid('param').id);
      if (!job) return problem(c, 404, 'not_found', 'No apply job with this id.');
      if (job.state !== 'queued' && job.state !== 'running') return problem(c, 409, 'invalid_state', ONLY_ACTIVE_JOBS_CANCEL);
      const handle = deps.temporal.workflow.getHandle(job.workflowId);
      const force = c.req.valid('query').force === 'true';
      try {
        await handle.signal(cancelRequestedSignal, { by: c.get('user').username, ...(force ? { force } : {}) });
        // A forced cancel usually follows a graceful one, whose cancellation request Temporal already holds.
        await handle.cancel().catch((err: unknown) => { if (!force) throw err; });
        await waitForClose(handle.result(), deps.cancelWaitMs ?? 15_000);
      } catch (err) {
        // A job whose workflow never started (Temporal was down at the merge) has nothing to stop: close the row.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        await jobs.cancel(job.id, c.get('user').username, []);
      }
      const after = (await jobs.get(job.id))!;
      return c.json(jobView(after, await jobs.results(job.id), links), after.state === 'failed' ? 200 : 202);
    })
    .get('/:id/events', requirePermission('view'), validate('param', IdParam), async (c) => {
      const job = await jobs.get(c.req.valid('param').id);
      if (!job) return problem(c, 404, 'not_found', 'No apply job with this id.');
      const lastId = Number(c.req.header('last-event-id') ?? c.req.query('lastEventId') ?? 0) || 0;
      // A stream holds a lease of its user's stream quota (PostgreSQL, so the cap holds across API processes); the
      // lease is renewed while the stream lasts and lapses on its own if this process dies.
      const leaseKey = `sse:${c.get('user').username}`;
      const lease = await deps.streams.quotas.take(leaseKey, deps.streams.rule);
      if (!lease.ok) {
        return tooManyRequests(c, lease.retryAfterS, 'too_many_streams',
          `At most ${deps.streams.rule.limit} live event streams per user; close one first or try again in ${lease.retryAfterS} s.`);
      }
      return streamSSE(c, async (stream) => {
        const subscription = deps.hub.subscribe(job.id, lastId);
        const renew = setInterval(() => { void deps.streams.quotas.renew(leaseKey, lease.id, deps.streams.rule).catch(() => {}); }, deps.streams.rule.ttlMs / 3);
        stream.onAbort(() => subscription.close());
        try {
          for (;;) {
            const events = await subscription.next();
            if (events.length === 0 || stream.aborted) return;
            for (const e of events) {
              await stream.writeSSE({ id: String(e.id), event: e.type, data: JSON.stringify({ ...(e.data as object), at: e.createdAt.toISOString() }) });
              if (e.type === 'complete') return;
            }
            if (stream.aborted || deps.hub.draining) return;
          }
        } finally {
          clearInterval(renew);
          subscription.close();
          await deps.streams.quotas.release(leaseKey, lease.id).catch(() => { /* it lapses on its own */ });
        }
      });
    });
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
