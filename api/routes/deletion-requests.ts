import type { Context } from 'hono';
import { z } from 'zod';
import type { DeletionRequestStore } from '../../db/deletion-requests';
import { DELETION_STATES, RejectionReason, TypedVmid } from '../../domain/deletion-rules';
import type { DeletionDecisions } from '../../services/deletion-decisions';
import type { AuthEnv } from '../auth';
import { AUTHENTICATED, WITH_BODY, createRoute, guarded, jsonBody, problems, router } from '../openapi';
import { ListQuery, decodeCursor, page } from '../pagination';
import { refusalProblem } from '../refusal-status';
import { deletionView, type TemporalLinks } from '../views';

export const DeletionListQuery = ListQuery.extend({
  state: z.enum(DELETION_STATES).optional(),
  branchId: z.coerce.number().int().positive().optional(),
  vmid: z.coerce.number().int().positive().optional(),
});
export const ApproveBody = z.strictObject({ vmid: TypedVmid });
/** The VMID typed by the authorizer, as for an approval. */
export const ConfirmDestroyedBody = ApproveBody;
export const RejectBody = z.strictObject({ reason: RejectionReason });
const IdParam = z.object({ id: z.coerce.number().int().positive() });

/** The permission to decide is checked by the use case (a refusal is recorded in the request's history). */
const DECISION_PROBLEMS = problems(...AUTHENTICATED, ...WITH_BODY, 403, 404, 409, 503, 504);

export const deletionRouteDefs = {
  list: createRoute({
    method: 'get', path: '/', summary: 'List deletion requests', ...guarded(['view']), request: { query: DeletionListQuery },
    responses: { 200: { description: 'A page of deletion requests' }, ...problems(...AUTHENTICATED, 403, 422) },
  }),
  show: createRoute({
    method: 'get', path: '/{id}', summary: 'A deletion request with its history', ...guarded(['view']), request: { params: IdParam },
    responses: { 200: { description: 'The deletion request' }, ...problems(...AUTHENTICATED, 403, 404, 422) },
  }),
  approve: createRoute({
    method: 'post', path: '/{id}/approve', summary: 'Approve (four eyes; type the VMID)', ...guarded(['authorize_deletion_request'], { checkedElsewhere: true }),
    request: { params: IdParam, body: jsonBody(ApproveBody) }, responses: { 200: { description: 'The approved request' }, ...DECISION_PROBLEMS },
  }),
  reject: createRoute({
    method: 'post', path: '/{id}/reject', summary: 'Reject with a reason', ...guarded(['authorize_deletion_request'], { checkedElsewhere: true }),
    request: { params: IdParam, body: jsonBody(RejectBody) }, responses: { 200: { description: 'The rejected request' }, ...DECISION_PROBLEMS },
  }),
  confirmDestroyed: createRoute({
    method: 'post', path: '/{id}/confirm-destroyed',
    summary: 'Confirm a guest destroyed by hand (after backend_cannot_register_deletion or unknown_outcome; four eyes; type the VMID)',
    ...guarded(['authorize_deletion_request'], { checkedElsewhere: true }),
    request: { params: IdParam, body: jsonBody(ConfirmDestroyedBody) },
    // 409 guest_still_present or invalid_state; 503 cluster_unreadable (absence not established, nothing changed).
    responses: {
      200: { description: 'The request, succeeded with reasonCode manually_destroyed: the cluster no longer lists the VMID' },
      ...problems(...AUTHENTICATED, ...WITH_BODY, 403, 404, 409, 503),
    },
  }),
};

export interface DeletionRouteDeps {
  deletions: DeletionRequestStore;
  decisions: DeletionDecisions;
  links: TemporalLinks;
}

export function deletionRequestRoutes(deps: DeletionRouteDeps) {
  const { deletions, decisions, links } = deps;
  const decide = async (c: Context<AuthEnv>, id: number, action: 'approve' | 'reject', extra: { typedVmid?: number; reason?: string }) => {
    const result = await decisions.decide(id, c.get('user'), action, extra);
    return result.ok ? c.json(deletionView(result.request, links)) : refusalProblem(c, result);
  };

  return router()
    .openapi(deletionRouteDefs.list, async (c) => {
      const q = c.req.valid('query');
      const afterId = decodeCursor(q.cursor, z.number().int());
      const rows = await deletions.list({ limit: q.limit, ...(q.state ? { state: q.state } : {}), ...(q.branchId ? { branchId: q.branchId } : {}),
        ...(q.vmid ? { vmid: q.vmid } : {}), ...(afterId !== undefined ? { afterId } : {}) });
      const body = page(rows, q.limit, (last) => last.id);
      return c.json({ items: body.items.map((r) => deletionView(r, links)), nextCursor: body.nextCursor }, 200);
    })
    .openapi(deletionRouteDefs.show, async (c) => {
      const shown = await decisions.show(c.req.valid('param').id);
      if (!shown.ok) return refusalProblem(c, shown);
      return c.json({ ...deletionView(shown.request, links), trouble: shown.trouble, netboxWriteback: shown.netboxWriteback, notifications: shown.notifications }, 200);
    })
    .openapi(deletionRouteDefs.approve, (c) => decide(c, c.req.valid('param').id, 'approve', { typedVmid: c.req.valid('json').vmid }))
    .openapi(deletionRouteDefs.reject, (c) => decide(c, c.req.valid('param').id, 'reject', { reason: c.req.valid('json').reason }))
    .openapi(deletionRouteDefs.confirmDestroyed, async (c) => {
      const result = await decisions.confirmDestroyed(c.req.valid('param').id, c.get('user'), c.req.valid('json').vmid);
      return result.ok ? c.json(deletionView(result.request, links), 200) : refusalProblem(c, result);
    });
}
