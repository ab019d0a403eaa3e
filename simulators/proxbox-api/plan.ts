import { Hono } from 'hono';
import { PlanRequest, type PlanDiff, type PlanResponse, type PlanVerdict } from '../../contracts/proxbox-api';
import { e1, parseBody } from './http';

export const PLAN_MESSAGES = {
  deleteRouted: 'DELETE diffs land in a DeletionRequest for separate authorization (Sub-PR H). The merge will not call Proxmox destroy.',
  defaultPermit: 'Plan-time validation accepted. Per-op probes land in Sub-PRs F/G/K.',
  noDiffs: 'No VM/LXC diffs in this branch — merge will be a no-op for Proxmox.',
} as const;

/** proxbox-api.md §4 verdict algorithm: firewall first, then delete, then default-permit. */
export function verdictOf(diff: PlanDiff): PlanVerdict {
  const base = { netbox_id: diff.netbox_id ?? null, op: diff.op };
  const extra = diff as Record<string, unknown>;
  const action = extra.type || extra.action;
  if (diff.kind === 'firewall' || (typeof action === 'string' && action.startsWith('firewall.'))) {
    const shown = typeof action === 'string' || typeof action === 'number' ? action : diff.op;
    return {
      ...base, verdict: 'warning', reason: 'firewall_plan_preview',
      message: `Firewall action '${shown}' will be re-read and write-gated during /intent/apply.`,
    };
  }
  if (diff.op === 'delete') return { ...base, verdict: 'warning', reason: 'delete_routed_to_deletion_request', message: PLAN_MESSAGES.deleteRouted };
  return { ...base, verdict: 'permitted', reason: 'default_permit', message: PLAN_MESSAGES.defaultPermit };
}

export function planOf(diffs: readonly PlanDiff[]): PlanResponse {
  const verdicts = diffs.map(verdictOf);
  const count = (op: string) => diffs.filter((d) => d.op === op).length;
  return {
    permitted: verdicts.every((v) => v.verdict !== 'blocked'),
    verdicts,
    summary: diffs.length === 0
      ? PLAN_MESSAGES.noDiffs
      : `${count('create')} create / ${count('update')} update / ${count('delete')} delete diff(s) classified.`,
  };
}

/** `POST /intent/plan`: pure, no endpoint lookup and no Proxmox call. */
export function planRoutes(): Hono {
  const app = new Hono();
  app.post('/intent/plan', async (c) => {
    const body = await parseBody(c, PlanRequest);
    if (!body.ok) return e1(c, body.errors);
    return c.json(planOf(body.value.diffs));
  });
  return app;
}
