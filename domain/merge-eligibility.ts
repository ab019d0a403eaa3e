/**
 * Which merges get an apply run (netbox.md §3, §5): decided from the branch as NetBox's REST API returns it now,
 * never from a webhook body, which is only a hint. Pure: shared by the apply starter and the reconciler.
 */
import { toEpochMs, type Branch, type BranchEvent } from '../contracts/netbox';
import { MESSAGES } from './messages';

export type Eligibility = { start: true } | { start: false; reason: string };

/** Only a merged (or merged-then-archived) branch that is opted in and still carries its merge time is applied. */
export function startDecision(branch: Branch): Eligibility {
  if (branch.custom_fields.apply_to_proxmox !== true) return { start: false, reason: MESSAGES.notOptedIn };
  if (branch.status.value !== 'merged' && branch.status.value !== 'archived') return { start: false, reason: `Branch is ${branch.status.value}, not merged` };
  if (branch.merged_time === null) return { start: false, reason: 'Branch has no merge time (it was reverted)' };
  return { start: true };
}

/** The start of the reconciler's look-back window, in epoch milliseconds. */
export function lookbackStartMs(nowMs: number, lookbackHours: number): number {
  if (!Number.isFinite(lookbackHours) || lookbackHours <= 0) throw new RangeError(`look-back must be a positive number of hours, not ${lookbackHours}`);
  return nowMs - Math.round(lookbackHours * 3_600_000);
}

/**
 * The reconciler applies what the merge hook would have applied, limited to merges inside the look-back window:
 * older merges (for example those made before this service was deployed) are never replayed.
 */
export function reconcileDecision(branch: Branch, windowStartMs: number): Eligibility {
  const decision = startDecision(branch);
  if (!decision.start) return decision;
  if (toEpochMs(branch.merged_time!) < windowStartMs) {
    return { start: false, reason: `Merged at ${branch.merged_time}, before the look-back window (${new Date(windowStartMs).toISOString()})` };
  }
  return { start: true };
}

/**
 * Branch ids to examine: those of `merged` events (the primary feed), then those found by the secondary sweep of
 * merged branches (it catches branches whose events were pruned). Each id once, in that order.
 */
export function reconcileCandidates(events: readonly BranchEvent[], swept: readonly Pick<Branch, 'id'>[]): number[] {
  const ids = new Set<number>();
  for (const e of [...events].sort((a, b) => toEpochMs(a.time) - toEpochMs(b.time) || a.id - b.id)) {
    if (e.type.value === 'merged') ids.add(e.branch.id);
  }
  for (const b of swept) ids.add(b.id);
  return [...ids];
}

/** What an operator types to re-apply one merge older than the look-back window (it names that very merge). */
export function reapplyPhrase(workflowId: string): string {
  return `reapply ${workflowId}`;
}

export type Admission =
  | { admit: true; reapplied: boolean }
  | { admit: false; code: 'merge_too_old' | 'typed_confirmation_required'; detail: string };

/**
 * Whether a merge that has no run yet may get one: inside the look-back window always; older only through a
 * deliberate re-apply whose typed confirmation names the merge (the caller checks the `reapply_merge` permission).
 * The same window as the reconciler's, so the webhook, the API and the reconciler agree on what is too old.
 */
export function mergeAdmission(input: {
  branchId: number; branchName: string; workflowId: string; mergedTimeMs: number; nowMs: number; lookbackHours: number;
  reapplyConfirmation?: string | undefined;
}): Admission {
  const windowStartMs = lookbackStartMs(input.nowMs, input.lookbackHours);
  if (input.mergedTimeMs >= windowStartMs) return { admit: true, reapplied: false };
  const phrase = reapplyPhrase(input.workflowId);
  if (input.reapplyConfirmation === undefined) {
    return {
      admit: false, code: 'merge_too_old',
      detail: `Branch ${input.branchName} (#${input.branchId}) was merged at ${new Date(input.mergedTimeMs).toISOString()}, before the look-back window `
        + `of ${input.lookbackHours} h (since ${new Date(windowStartMs).toISOString()}); it is not applied. To apply it deliberately, a user with `
        + `reapply_merge sends POST /api/v1/apply-jobs {"branchId": ${input.branchId}, "reapplyConfirmation": "${phrase}"}.`,
    };
  }
  if (input.reapplyConfirmation !== phrase) {
    return { admit: false, code: 'typed_confirmation_required', detail: `To re-apply this merge, reapplyConfirmation must be exactly '${phrase}'.` };
  }
  return { admit: true, reapplied: true };
}

/** Who merged according to a webhook body: only a hint, compared with NetBox's REST answer and never used. */
export interface MergedByClaim { username: string | null; userId: number | null }

/** A description of the body's claim when it disagrees with REST's `merged_by`; null when it agrees or says nothing. */
export function mergedByMismatch(rest: { id: number; username: string } | null, claim: MergedByClaim | undefined): string | null {
  if (!claim) return null;
  const wrongName = claim.username !== null && claim.username !== (rest?.username ?? null);
  const wrongId = claim.userId !== null && claim.userId !== (rest?.id ?? null);
  if (!wrongName && !wrongId) return null;
  const said = [claim.username !== null ? `username ${JSON.stringify(claim.username.slice(0, 150))}` : null, claim.userId !== null ? `user pk ${claim.userId}` : null]
    .filter(Boolean).join(', ');
  return `the webhook body claimed ${said}; NetBox says ${rest ? `${rest.username} (pk ${rest.id})` : 'nobody'}`;
}
