import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { CancelledFailure, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ApplyJobStore } from '../../db/apply-jobs';
import type { ApplyStarter } from '../../services/apply-starter';
import { UpstreamError } from '../../clients/errors';
import { ONLY_ACTIVE_JOBS_CANCEL } from '../../domain/messages';
import { cancelRequestedSignal } from '../../workflows/definitions';
import { requirePermission, type AuthEnv } from '../auth';
import type { ApplyEventHub } from '../event-hub';
import { ListQuery, decodeCursor, page } from '../pagination';
import { problem } from '../problem';
import { validate } from '../validation';
import { jobView, type TemporalLinks } from '../views';

export const JobListQuery = ListQuery.extend({
  state: z.enum(['queued', 'running', 'succeeded', 'partial', 'failed']).optional(),
  branchId: z.coerce.number().int().positive().optional(),
});
export const StartApplyBody = z.strictObject({ branchId: z.number().int().positive() });
const IdParam = z.object({ id: z.uuid({ error: 'must be an apply job id (a UUID)' }) });
const JobCursor = z.object({ createdAt: z.iso.datetime(), id: z.uuid() });

export interface ApplyJobRouteDeps {
  jobs: ApplyJobStore;
  starter: ApplyStarter;
  temporal: Client;
  links: TemporalLinks;
  hub: ApplyEventHub;
  cancelWaitMs?: number;
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
      try {
        const result = await deps.starter.startForBranch(c.req.valid('json').branchId, 'api');
        if (result.outcome === 'ignored') return problem(c, 422, 'not_applicable', result.reason);
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
      return c.json(jobView(job, await jobs.results(job.id), links));
    })
    .post('/:id/cancel', requirePermission('cancel_apply_job'), validate('param', IdParam), async (c) => {
      const job = await jobs.get(c.req.valid('param').id);
      if (!job) return problem(c, 404, 'not_found', 'No apply job with this id.');
      if (job.state !== 'queued' && job.state !== 'running') return problem(c, 409, 'invalid_state', ONLY_ACTIVE_JOBS_CANCEL);
      const handle = deps.temporal.workflow.getHandle(job.workflowId);
      try {
        await handle.signal(cancelRequestedSignal, { by: c.get('user').username });
        await handle.cancel();
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
      return streamSSE(c, async (stream) => {
        let cursor = lastId;
        let wake: (() => void) | null = null;
        const unsubscribe = deps.hub.subscribe(job.id, () => wake?.());
        stream.onAbort(() => { unsubscribe(); wake?.(); });
        try {
          for (;;) {
            const pending = new Promise<void>((r) => { wake = r; });
            const events = await jobs.eventsAfter(job.id, cursor);
            for (const e of events) {
              await stream.writeSSE({ id: String(e.id), event: e.type, data: JSON.stringify({ ...(e.data as object), at: e.createdAt.toISOString() }) });
              cursor = e.id;
              if (e.type === 'complete') return;
            }
            if (stream.aborted || deps.hub.draining) return;
            await pending;
          }
        } finally {
          unsubscribe();
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
