import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { DeletionRequestStore } from '../../db/deletion-requests';
import { DELETION_STATES } from '../../domain/deletion-rules';
import type { DeletionDecisions } from '../../services/deletion-decisions';
import { requirePermission, type AuthEnv } from '../auth';
import { ListQuery, decodeCursor, page } from '../pagination';
import { refusalProblem } from '../refusal-status';
import { validate } from '../validation';
import { deletionView, type TemporalLinks } from '../views';

export const DeletionListQuery = ListQuery.extend({
  state: z.enum(DELETION_STATES).optional(),
  branchId: z.coerce.number().int().positive().optional(),
  vmid: z.coerce.number().int().positive().optional(),
});
export const ApproveBody = z.strictObject({ vmid: z.number().int().positive() });
export const RejectBody = z.strictObject({ reason: z.string().trim().min(1, 'a reason is required').max(255) });
const IdParam = z.object({ id: z.coerce.number().int().positive() });

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

  return new Hono<AuthEnv>()
    .get('/', requirePermission('view'), validate('query', DeletionListQuery), async (c) => {
      const q = c.req.valid('query');
      const afterId = decodeCursor(q.cursor, z.number().int());
      const rows = await deletions.list({ limit: q.limit, ...(q.state ? { state: q.state } : {}), ...(q.branchId ? { branchId: q.branchId } : {}),
        ...(q.vmid ? { vmid: q.vmid } : {}), ...(afterId !== undefined ? { afterId } : {}) });
      const body = page(rows, q.limit, (last) => last.id);
      return c.json({ items: body.items.map((r) => deletionView(r, links)), nextCursor: body.nextCursor });
    })
    .get('/:id', requirePermission('view'), validate('param', IdParam), async (c) => {
      const shown = await decisions.show(c.req.valid('param').id);
      if (!shown.ok) return refusalProblem(c, shown);
      return c.json({ ...deletionView(shown.request, links), trouble: shown.trouble });
    })
    .post('/:id/approve', validate('param', IdParam), validate('json', ApproveBody), (c) =>
      decide(c, c.req.valid('param').id, 'approve', { typedVmid: c.req.valid('json').vmid }))
    .post('/:id/reject', validate('param', IdParam), validate('json', RejectBody), (c) =>
      decide(c, c.req.valid('param').id, 'reject', { reason: c.req.valid('json').reason }));
}
