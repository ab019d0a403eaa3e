import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Refusal } from '../services/refusal';
import { problem } from './problem';

/**
 * The one mapping from the codes of refusals (the use cases in services/, the domain rules, the deletion workflow's
 * answers) to HTTP statuses. A code not listed here is a conflict with the resource's state.
 */
export const REFUSAL_STATUS: Readonly<Record<string, ContentfulStatusCode>> = {
  permission_denied: 403,
  self_approval_blocked: 403,
  self_approval_change_blocked: 403,
  forged_decision: 403,
  not_found: 404,
  branch_not_found: 404,
  invalid_state: 409,
  merge_too_old: 409,
  vmid_mismatch: 422,
  reason_required: 422,
  /** A page's form that cannot be read (ui/): nothing was decided. */
  invalid_form: 422,
  not_applicable: 422,
  typed_confirmation_required: 422,
  self_approval_confirmation_required: 422,
  guest_still_present: 409,
  endpoint_changed: 409,
  cluster_unreadable: 503,
  decision_not_recorded: 503,
  decision_timeout: 504,
  rate_limited: 429,
};

export function refusalStatus(code: string): ContentfulStatusCode {
  return REFUSAL_STATUS[code] ?? 409;
}

/** A refusal as application/problem+json. */
export function refusalProblem(c: Context, refusal: Pick<Refusal, 'code' | 'detail'>): Response {
  return problem(c, refusalStatus(refusal.code), refusal.code, refusal.detail);
}
