import type { Env } from 'hono';
import { z } from 'zod';
import { BranchMergedWebhook, WebhookEnvelope, OBJECT_TYPE } from '../../contracts/netbox';
import { verifyWebhookSignature } from '../../domain/webhook-signature';
import type { ApplyJobService } from '../../services/apply-jobs';
import { limitBody, parseJsonBytes } from '../body';
import { createRoute, problems, router } from '../openapi';
import { MALFORMED_JSON, problem } from '../problem';
import type { AuthFailureGuard } from '../rate-limits';
import { refusalProblem } from '../refusal-status';
import type { TemporalLinks } from '../views';
import { jobView } from '../views';

export const WEBHOOK_MAX_BYTES = 256 * 1024;

/** NetBox's event-rule webhook: the signature over the raw bytes is checked before anything is parsed. */
export const hookRouteDefs = {
  netbox: createRoute({
    method: 'post', path: '/netbox', summary: 'NetBox branch_merged webhook (X-Hook-Signature, HMAC-SHA512 of the raw body)',
    middleware: [limitBody(WEBHOOK_MAX_BYTES, 'Webhook bodies')],
    responses: {
      202: { description: 'Started, already started, or ignored (the answer says which)' },
      ...problems(400, 401, 409, 413, 429, 502, 503),
    },
  }),
};

export function hookRoutes(deps: { secret: string | undefined; jobs: ApplyJobService; links: TemporalLinks; guard: AuthFailureGuard }) {
  // The body is read raw (the signature covers its bytes) and parsed here, so the route declares no body schema.
  return router<Env>().openapi(hookRouteDefs.netbox, async (c) => {
    if (!deps.secret) return problem(c, 503, 'webhook_not_configured', 'NETBOX_WEBHOOK_SECRET is not configured; webhooks are refused.');
    const locked = await deps.guard.lockedOut(c);
    if (locked) return locked;
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const signature = c.req.header('x-hook-signature');
    if (!signature) return problem(c, 401, 'signature_missing', 'X-Hook-Signature is missing.');
    if (!verifyWebhookSignature(deps.secret, raw, signature)) {
      return (await deps.guard.failed(c)) ?? problem(c, 401, 'signature_invalid', 'X-Hook-Signature does not match the body.');
    }
    const parsed = parseJsonBytes(raw);
    if (!parsed.ok) return problem(c, 400, 'malformed_json', MALFORMED_JSON);
    const body = parsed.value;
    const envelope = WebhookEnvelope.safeParse(body);
    if (!envelope.success) return problem(c, 400, 'malformed_body', `The webhook body is not a NetBox event: ${z.prettifyError(envelope.error)}`);
    if (envelope.data.event !== 'branch_merged') return c.json({ ignored: `event '${envelope.data.event}' is not branch_merged` }, 202);
    if (envelope.data.object_type !== OBJECT_TYPE.branch) return c.json({ ignored: `object_type '${envelope.data.object_type ?? '(none)'}' is not ${OBJECT_TYPE.branch}` }, 202);
    const merged = BranchMergedWebhook.safeParse(body);
    if (!merged.success) return problem(c, 400, 'malformed_body', `The branch_merged body is invalid: ${z.prettifyError(merged.error)}`);
    if (merged.data.data.custom_fields?.apply_to_proxmox !== true) return c.json({ ignored: 'Branch is not opted in' }, 202);
    // Who merged is read from NetBox; the body's claim is only compared (and recorded when it disagrees).
    const claimedMergedBy = { username: merged.data.username ?? null, userId: merged.data.data.merged_by ?? null };
    const result = await deps.jobs.startFromWebhook(merged.data.data.id, claimedMergedBy);
    if (!result.ok) return refusalProblem(c, result);
    if (result.outcome === 'ignored') return c.json({ ignored: result.reason }, 202);
    return c.json({ outcome: result.outcome, job: jobView(result.job, null, deps.links) }, 202);
  });
}
