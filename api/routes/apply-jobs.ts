import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { JOB_STATES } from '../../domain/job-state';
import type { ApplyJobStore } from '../../db/apply-jobs';
import type { QuotaRule, QuotaStore } from '../../db/quotas';
import type { ApplyJobService } from '../../services/apply-jobs';
import type { ApplyEventHub } from '../event-hub';
import { AUTHENTICATED, WITH_BODY, createRoute, guarded, jsonBody, problems, router } from '../openapi';
import { ListQuery, decodeCursor, page } from '../pagination';
import { problem } from '../problem';
import { tooManyRequests } from '../rate-limits';
import { refusalProblem } from '../refusal-status';
import { jobView, type TemporalLinks } from '../views';

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
  jobs: ApplyJobStore;
  service: ApplyJobService;
  links: TemporalLinks;
  hub: ApplyEventHub;
  /** The per-user cap on concurrent event streams (leases that last `rule.ttlMs` unless renewed). */
  streams: { quotas: QuotaStore; rule: QuotaRule };
}

const IdParams = { params: IdParam };

export const applyJobRouteDefs = {
  list: createRoute({
    method: 'get', path: '/', summary: 'List apply jobs', ...guarded(['view']), request: { query: JobListQuery },
    responses: { 200: { description: 'A page of apply jobs' }, ...problems(...AUTHENTICATED, 403, 422) },
  }),
  start: createRoute({
    method: 'post', path: '/', ...guarded(['trigger_apply']), request: { body: jsonBody(StartApplyBody) },
    summary: 'Start the apply of a merged branch (one run per merge, ever; 409 merge_too_old past RECONCILE_LOOKBACK_H unless re-applied with reapply_merge and reapplyConfirmation)',
    responses: {
      200: { description: 'The merge already has its job' }, 202: { description: 'The apply started' },
      ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 404, 409, 502),
    },
  }),
  show: createRoute({
    method: 'get', path: '/{id}', summary: 'An apply job with its per-VM results', ...guarded(['view']), request: IdParams,
    responses: { 200: { description: 'The apply job' }, ...problems(...AUTHENTICATED, 403, 404, 422) },
  }),
  cancel: createRoute({
    method: 'post', path: '/{id}/cancel', summary: 'Cancel a queued or running apply job', ...guarded(['cancel_apply_job']), request: { ...IdParams, query: CancelQuery },
    responses: {
      200: { description: 'The job is closed' }, 202: { description: 'The run is still stopping' },
      ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 404, 409),
    },
  }),
  events: createRoute({
    method: 'get', path: '/{id}/events', summary: 'Live SSE log (resumable with Last-Event-ID)', ...guarded(['view']), request: IdParams,
    responses: { 200: { description: 'text/event-stream of the job\'s events' }, ...problems(...AUTHENTICATED, 403, 404, 422) },
  }),
};

export function applyJobRoutes(deps: ApplyJobRouteDeps) {
  const { jobs, service, links } = deps;
  const defs = applyJobRouteDefs;
  return router()
    .openapi(defs.list, async (c) => {
      const q = c.req.valid('query');
      const after = decodeCursor(q.cursor, JobCursor);
      const rows = await jobs.list({ limit: q.limit, ...(q.state ? { state: q.state } : {}), ...(q.branchId ? { branchId: q.branchId } : {}),
        ...(after ? { after: { createdAt: new Date(after.createdAt), id: after.id } } : {}) });
      const body = page(rows, q.limit, (last) => ({ createdAt: last.createdAt.toISOString(), id: last.id }));
      return c.json({ items: body.items.map((j) => jobView(j, null, links)), nextCursor: body.nextCursor }, 200);
    })
    .openapi(defs.start, async (c) => {
      const { branchId, reapplyConfirmation } = c.req.valid('json');
      const result = await service.start(branchId, c.get('user'), reapplyConfirmation);
      if (!result.ok) return refusalProblem(c, result);
      return c.json(jobView(result.job, result.results, links), result.outcome === 'started' ? 202 : 200);
    })
    .openapi(defs.show, async (c) => {
      const shown = await service.show(c.req.valid('param').id);
      if (!shown.ok) return refusalProblem(c, shown);
      return c.json({ ...jobView(shown.job, shown.results, links), trouble: shown.trouble, netboxWriteback: shown.netboxWriteback, notifications: shown.notifications }, 200);
    })
    .openapi(defs.cancel, async (c) => {
      const result = await service.cancel(c.req.valid('param').id, c.get('user').username, c.req.valid('query').force === 'true');
      if (!result.ok) return refusalProblem(c, result);
      // 202 while the run is still stopping.
      return c.json(jobView(result.job, result.results, links), result.job.state === 'failed' ? 200 : 202);
    })
    .openapi(defs.events, async (c) => {
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
