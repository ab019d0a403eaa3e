import { hasPermission } from './permissions';
import { SELF_APPROVAL_BLOCKED, VMID_MISMATCH } from './messages';

export type DeletionState = 'pending' | 'approved' | 'executing' | 'succeeded' | 'failed' | 'rejected' | 'expired';

export type DecisionRefusal =
  | { code: 'permission_denied'; status: 403; detail: string }
  | { code: 'self_approval_blocked'; status: 403; detail: string }
  | { code: 'invalid_state'; status: 409; detail: string }
  | { code: 'vmid_mismatch'; status: 422; detail: string }
  | { code: 'reason_required'; status: 422; detail: string };

export interface DecisionInput {
  action: 'approve' | 'reject';
  state: DeletionState;
  requestVmid: number;
  requestedBy: string;
  actor: string;
  actorPermissions: readonly string[];
  selfApproveAllowed: boolean;
  typedVmid?: number;
  reason?: string;
}

/**
 * The four-eyes rules, in the order users meet them: permission, state, typed VMID, then requester ≠ approver.
 * Shared by the API (for an immediate answer) and the DeletionWorkflow (which re-checks before acting).
 */
export function checkDecision(input: DecisionInput): DecisionRefusal | null {
  if (!hasPermission(input.actorPermissions, 'authorize_deletion_request')) {
    return { code: 'permission_denied', status: 403, detail: 'permission denied: authorize_deletion_request is required to decide deletion requests.' };
  }
  if (input.state !== 'pending') {
    return { code: 'invalid_state', status: 409, detail: `Deletion request is ${input.state}; only pending requests can be ${input.action === 'approve' ? 'approved' : 'rejected'}.` };
  }
  if (input.action === 'reject') {
    const reason = input.reason?.trim() ?? '';
    if (reason.length === 0) return { code: 'reason_required', status: 422, detail: 'A rejection needs a reason.' };
    return null;
  }
  if (input.typedVmid !== input.requestVmid) return { code: 'vmid_mismatch', status: 422, detail: VMID_MISMATCH };
  if (input.actor === input.requestedBy && !input.selfApproveAllowed) {
    return { code: 'self_approval_blocked', status: 403, detail: SELF_APPROVAL_BLOCKED };
  }
  return null;
}
