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
