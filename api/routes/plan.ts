import type { Context, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { MergeValidator } from '../../services/merge-validator';
import type { AuthEnv } from '../auth';
import { AUTHENTICATED, createRoute, guarded, problems, router } from '../openapi';
import { MALFORMED_JSON, problem, validationProblem } from '../problem';
import { tooManyRequests } from '../rate-limits';
import { refusalProblem } from '../refusal-status';
import { planPagePath } from '../../ui/pages/plan';

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
    method: 'get', path: '/{branchId}/plan-summary', summary: 'The same plan (a browser, Accept: text/html, is sent to the page /ui/branches/{branchId}/plan)', ...guarded(['view']),
    request: { params: BranchParam, query: PlanSummaryQuery }, responses: { 200: { description: 'The plan' }, 303: { description: 'Accept: text/html: to /ui/branches/{branchId}/plan' }, ...PLAN_PROBLEMS },
  }),
};

/** `POST /branches/{id}/plan` (the merge validator) and `GET /branches/{id}/plan-summary` (the same; a browser is sent to the page). */
export function planRoutes(service: MergeValidator) {
  const answer = async (c: Context<AuthEnv>, branchId: number, actor: string | null) => {
    const result = await service.planFor(c.get('user').username, branchId, actor);
    if (result.ok) return c.json(result.plan);
    return result.code === 'rate_limited' ? tooManyRequests(c, result.retryAfterS, result.code, result.detail) : refusalProblem(c, result);
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
      return answer(c, c.req.valid('param').branchId, body.data.actor ?? null);
    })
    .openapi(planRouteDefs.summary, (c) => answer(c, c.req.valid('param').branchId, c.req.valid('query').actor ?? null));
}

/**
 * A browser (Accept: text/html) opening `GET /api/v1/branches/{id}/plan-summary`, with or without a token, is sent
 * (303) to the plan page, which signs it in first: the one HTML rendering of a plan. Runs before authentication.
 */
export function planSummaryBrowserRedirect(): MiddlewareHandler {
  return async (c, next) => {
    const branchId = BranchParam.shape.branchId.safeParse(c.req.param('branchId'));
    if (!/text\/html/i.test(c.req.header('accept') ?? '') || !branchId.success) return next();
    const actor = PlanSummaryQuery.safeParse(c.req.query());
    return c.redirect(planPagePath(branchId.data, actor.success ? actor.data.actor : null), 303);
  };
}
