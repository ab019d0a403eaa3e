import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { QuotaStore } from '../../db/quotas';
import { z } from 'zod';
import type { PlanService } from '../../services/plan';
import { requirePermission, type AuthEnv } from '../auth';
import { MALFORMED_JSON, problem, validationProblem } from '../problem';
import { MINUTE_MS, tooManyRequests } from '../rate-limits';
import { refusalProblem } from '../refusal-status';
import { validate } from '../validation';
import { planPage } from '../views';

/** The NetBox username whose permissions the plan checks; the merge validator does not know it and sends `{}`. */
const Actor = z.string().trim().min(1).max(150);
export const PlanBody = z.strictObject({ actor: Actor.optional() });
export const PlanSummaryQuery = z.strictObject({ actor: Actor.optional() });
const BranchParam = z.object({ branchId: z.coerce.number().int().positive() });

/** `POST /branches/{id}/plan` (the merge validator) and `GET /branches/{id}/plan-summary` (the same, for people). */
export function planRoutes(service: PlanService, limit: { quotas: QuotaStore; perUserPerMinute: number }) {
  const rule = { limit: limit.perUserPerMinute, ttlMs: MINUTE_MS };
  /** Each plan reads NetBox and proxbox-api: at most `perUserPerMinute` per user in any rolling minute, across processes. */
  const perUser = createMiddleware<AuthEnv>(async (c, next) => {
    const taken = await limit.quotas.take(`plan:${c.get('user').username}`, rule);
    if (!taken.ok) {
      return tooManyRequests(c, taken.retryAfterS, 'rate_limited',
        `Too many plans: at most ${rule.limit} per minute per user. Try again in ${taken.retryAfterS} s.`);
    }
    await next();
  });
  const answer = async (c: Context<AuthEnv>, branchId: number, actor: string | null, html: boolean) => {
    const result = await service.plan(branchId, actor);
    if (!result) return refusalProblem(c, { code: 'branch_not_found', detail: `NetBox has no branch ${branchId}.` });
    return html ? c.html(planPage(result)) : c.json(result);
  };
  return new Hono<AuthEnv>()
    .post('/:branchId/plan', requirePermission('view'), validate('param', BranchParam), perUser, async (c) => {
      // An empty body is the same as `{}` (curl without -d, or a validator that sends nothing).
      const raw = await c.req.text();
      let json: unknown = {};
      if (raw.trim()) {
        try { json = JSON.parse(raw); } catch { return problem(c, 400, 'malformed_json', MALFORMED_JSON); }
      }
      const body = PlanBody.safeParse(json);
      if (!body.success) return validationProblem(c, body.error, 'request body');
      return answer(c, c.req.valid('param').branchId, body.data.actor ?? null, false);
    })
    .get('/:branchId/plan-summary', requirePermission('view'), validate('param', BranchParam), validate('query', PlanSummaryQuery), perUser, async (c) => {
      const wantsHtml = /text\/html/i.test(c.req.header('accept') ?? '');
      return answer(c, c.req.valid('param').branchId, c.req.valid('query').actor ?? null, wantsHtml);
    });
}
