import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import type { DeletionRequestStore } from '../../db/deletion-requests';
import type { SettingsStore } from '../../db/settings';
import { signDecision, type DeletionDecision } from '../../domain/approval-signature';
import { DELETION_STATES, FINAL_DELETION_STATES, checkDecision, recordsRefusalsOf } from '../../domain/deletion-rules';
import { decideUpdate } from '../../workflows/definitions';
import { requirePermission, type AuthEnv } from '../auth';
import { ListQuery, decodeCursor, page } from '../pagination';
import { problem } from '../problem';
import { validate } from '../validation';
import { deletionView, type TemporalLinks } from '../views';
import { runTrouble } from '../../services/run-trouble';

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
  settings: SettingsStore;
  temporal: Client;
  links: TemporalLinks;
  approvalSecret: string;
}

/** The workflow's refusal (or why it could not answer) as the problem the approver sees. */
function updateProblem(err: unknown, state: string): { status: number; code: string; detail: string } | null {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type) {
    return { status: Number(err.cause.details?.[0]) || 409, code: err.cause.type, detail: err.cause.message };
  }
  if (err instanceof WorkflowUpdateFailedError) {
    return { status: 503, code: 'decision_not_recorded', detail: 'The deletion workflow could not record the decision; nothing changed. Try again.' };
  }
  if (err instanceof WorkflowNotFoundError) {
    return { status: 409, code: 'invalid_state', detail: `The deletion workflow of this request is not running (the request is ${state}); it can no longer be decided.` };
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    return { status: 504, code: 'decision_timeout', detail: 'The deletion workflow did not answer in time; check the request before trying again.' };
  }
  return null;
}

export function deletionRequestRoutes(deps: DeletionRouteDeps) {
  const { deletions, links } = deps;

  /** Checks the rules for an immediate answer, then hands a signed decision to the workflow, which checks again. */
  async function decide(c: Context<AuthEnv>, id: number, action: 'approve' | 'reject', extra: { typedVmid?: number; reason?: string }) {
    const row = await deletions.get(id);
    if (!row) return problem(c, 404, 'not_found', 'No deletion request with this id.');
    const user = c.get('user');
    const settings = await deps.settings.get();
    const refusal = checkDecision({
      action, state: row.state, requestVmid: row.vmid, requestedBy: row.requestedBy, actor: user.username, actorTokenIssuers: user.tokenIssuers,
      actorPermissions: user.permissions, selfApproveAllowed: settings.selfApproveAllowed, ...extra,
    });
    if (refusal) {
      if (recordsRefusalsOf(user.permissions)) {
        await deletions.appendRefusal(row.id, { at: new Date().toISOString(), actor: user.username, action, outcome: 'refused', detail: refusal.detail });
      }
      return problem(c, refusal.status, refusal.code, refusal.detail);
    }
    const decision: DeletionDecision = {
      requestId: row.id, workflowId: row.workflowId, action, actor: user.username, tokenIssuers: user.tokenIssuers, issuedAt: new Date().toISOString(), nonce: randomUUID(), ...extra,
    };
    try {
      await deps.temporal.workflow.getHandle(row.workflowId).executeUpdate(decideUpdate, { args: [signDecision(deps.approvalSecret, decision)] });
    } catch (err) {
      const answer = updateProblem(err, row.state);
      if (!answer) throw err;
      return problem(c, answer.status, answer.code, answer.detail);
    }
    return c.json(deletionView((await deletions.get(row.id))!, links));
  }

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
      const row = await deletions.get(c.req.valid('param').id);
      if (!row) return problem(c, 404, 'not_found', 'No deletion request with this id.');
      const finished = FINAL_DELETION_STATES.includes(row.state);
      return c.json({ ...deletionView(row, links), trouble: finished ? null : await runTrouble(deps.temporal, row.workflowId) });
    })
    .post('/:id/approve', validate('param', IdParam), validate('json', ApproveBody), (c) =>
      decide(c, c.req.valid('param').id, 'approve', { typedVmid: c.req.valid('json').vmid }))
    .post('/:id/reject', validate('param', IdParam), validate('json', RejectBody), (c) =>
      decide(c, c.req.valid('param').id, 'reject', { reason: c.req.valid('json').reason }));
}
