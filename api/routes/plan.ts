import type { Context } from 'hono';
import type { QuotaStore } from '../../db/quotas';
import { z } from 'zod';
import type { MergeValidator } from '../../services/merge-validator';
import type { AuthEnv } from '../auth';
import { AUTHENTICATED, createRoute, guarded, problems, router } from '../openapi';
import { MALFORMED_JSON, problem, validationProblem } from '../problem';
import { MINUTE_MS, tooManyRequests } from '../rate-limits';
import { refusalProblem } from '../refusal-status';
import { planPage } from '../views';

/** The NetBox username whose permissions the plan checks; the merge validator does not know it and sends `{}`. */
const Actor = z.string().trim().min(1).max(150);
export const PlanBody = z.strictObject({ actor: Actor.optional() });
export const PlanSummaryQuery = z.strictObject({ actor: Actor.optional() });
const BranchParam = z.object({ branchId: z.coerce.number().int().positive() });

const PLAN_PROBLEMS = problems(...AUTHENTICATED, 403, 404, 422, 429);

export const planRouteDefs = {
  plan: createRoute({
    method: 'post', path: '/{branchId}/plan', summary: 'Read-only plan of a branch: the merge validator (answers within 4.5 s, fails closed)', ...guarded(['view']),
    request: { params: BranchParam, body: { required: false, content: { 'application/json': { schema: PlanBody } } } },
    responses: { 200: { description: 'The plan' }, ...PLAN_PROBLEMS, ...problems(400, 413, 415) },
  }),
  summary: createRoute({
    method: 'get', path: '/{branchId}/plan-summary', summary: 'The same plan for people (HTML with Accept: text/html)', ...guarded(['view']),
    request: { params: BranchParam, query: PlanSummaryQuery }, responses: { 200: { description: 'The plan (JSON, or HTML with Accept: text/html)' }, ...PLAN_PROBLEMS },
  }),
};

/** `POST /branches/{id}/plan` (the merge validator) and `GET /branches/{id}/plan-summary` (the same, for people). */
export function planRoutes(service: MergeValidator, limit: { quotas: QuotaStore; perUserPerMinute: number }) {
  const rule = { limit: limit.perUserPerMinute, ttlMs: MINUTE_MS };
  /** Each plan reads NetBox and proxbox-api: at most `perUserPerMinute` per user in any rolling minute, across processes. */
  const overQuota = async (c: Context<AuthEnv>): Promise<Response | null> => {
    const taken = await limit.quotas.take(`plan:${c.get('user').username}`, rule);
    if (taken.ok) return null;
    return tooManyRequests(c, taken.retryAfterS, 'rate_limited', `Too many plans: at most ${rule.limit} per minute per user. Try again in ${taken.retryAfterS} s.`);
  };
  const answer = async (c: Context<AuthEnv>, branchId: number, actor: string | null, html: boolean) => {
    const refused = await overQuota(c);
    if (refused) return refused;
    const result = await service.plan(branchId, actor);
    if (!result) return refusalProblem(c, { code: 'branch_not_found', detail: `NetBox has no branch ${branchId}.` });
    return html ? c.html(planPage(result)) : c.json(result);
  };
  const plans = router();
  // The body is documented from PlanBody but read here: an empty body is the same as `{}` (curl without -d, or a
  // validator that sends nothing), which the generated JSON validator would refuse.
  const { middleware: _checkedByTheRoute, ...planDoc } = planRouteDefs.plan;
  plans.openAPIRegistry.registerPath(planDoc);
  return plans
    .openapi({ ...planRouteDefs.plan, hide: true, request: { params: BranchParam } }, async (c) => {
      const raw = await c.req.text();
      let json: unknown = {};
      if (raw.trim()) {
        try { json = JSON.parse(raw); } catch { return problem(c, 400, 'malformed_json', MALFORMED_JSON); }
      }
      const body = PlanBody.safeParse(json);
      if (!body.success) return validationProblem(c, body.error, 'request body');
      return answer(c, c.req.valid('param').branchId, body.data.actor ?? null, false);
    })
    .openapi(planRouteDefs.summary, async (c) => {
      const wantsHtml = /text\/html/i.test(c.req.header('accept') ?? '');
      return answer(c, c.req.valid('param').branchId, c.req.valid('query').actor ?? null, wantsHtml);
    });
}
