import { Hono, type Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { QuotaStore } from '../../db/quotas';
import { z } from 'zod';
import type { MergeValidation } from '../../domain/merge-validation';
import type { MergeValidator } from '../../services/merge-validator';
import { requirePermission, type AuthEnv } from '../auth';
import { MALFORMED_JSON, problem, validationProblem } from '../problem';
import { MINUTE_MS, tooManyRequests } from '../rate-limits';
import { validate } from '../validation';

/** The NetBox username whose permissions the plan checks; the merge validator does not know it and sends `{}`. */
const Actor = z.string().trim().min(1).max(150);
export const PlanBody = z.strictObject({ actor: Actor.optional() });
export const PlanSummaryQuery = z.strictObject({ actor: Actor.optional() });
const BranchParam = z.object({ branchId: z.coerce.number().int().positive() });

/** `POST /branches/{id}/plan` (the merge validator) and `GET /branches/{id}/plan-summary` (the same, for people). */
export function planRoutes(service: MergeValidator, limit: { quotas: QuotaStore; perUserPerMinute: number }) {
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
    if (!result) return problem(c, 404, 'branch_not_found', `NetBox has no branch ${branchId}.`);
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

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const COLOURS: Record<string, string> = { permitted: '#1b7f3b', warning: '#a66300', blocked: '#b00020', skipped: '#666' };

/** The plan summary page: read-only, everything escaped. */
export function planPage(p: MergeValidation): string {
  const rows = p.verdicts.map((v) => {
    const diff = p.diffs.find((d) => d.netboxId === v.netboxId);
    const details = v.findings.map((f) => `<li>${esc(f.severity)} · ${esc(f.check)} · ${esc(f.reason)}: ${esc(f.message)}</li>`).join('');
    return `<tr><td>${esc(v.name)}</td><td>${esc(v.op)}</td><td>${esc(v.kind)}</td><td>${esc(v.vmid)}</td><td>${esc(diff?.node)}</td>`
      + `<td>${esc(diff?.endpoint)}</td><td style="color:${COLOURS[v.verdict] ?? '#000'}"><b>${esc(v.verdict)}</b></td>`
      + `<td>${esc(v.message)}${details ? `<ul>${details}</ul>` : ''}</td></tr>`;
  }).join('');
  const verdict = p.permitted ? '<b style="color:#1b7f3b">permitted</b>' : '<b style="color:#b00020">blocked</b>';
  return `<!doctype html><html><head><meta charset="utf-8"><title>Plan of branch ${esc(p.branch.name ?? p.branch.id)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}ul{margin:.2rem 0;padding-left:1.2rem;font-size:.9em}</style></head>
<body><h1>Plan of branch ${esc(p.branch.name ?? '?')} (#${esc(p.branch.id)}, ${esc(p.branch.schemaId ?? '?')}, ${esc(p.branch.status ?? '?')})</h1>
<p>Merge ${verdict}: ${esc(p.message)}</p>
<p>${esc(p.summary)}</p>
<p>Intent enabled: <b>${p.settings.enabled ? 'yes' : 'no'}</b> · apply_to_proxmox: <b>${p.settings.optedIn ? 'yes' : 'no'}</b> · apply_destroy_confirmed: <b>${p.settings.destroyConfirmed ? 'yes' : 'no'}</b>
 · RBAC: ${p.rbacChecked ? `checked for <b>${esc(p.actor)}</b>` : 'not checked (no actor)'}</p>
<table><tr><th>VM</th><th>Op</th><th>Kind</th><th>VMID</th><th>Node</th><th>Endpoint</th><th>Verdict</th><th>Why</th></tr>${rows}</table>
<p><small>Read-only: this page never changes NetBox or Proxmox. Checks in order: ${p.checks.map(esc).join(' → ')}.</small></p></body></html>`;
}
