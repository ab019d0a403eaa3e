import { z } from 'zod';
import { hasPermission } from './permissions';
import type { ClosedGate } from './gates';
import type { GuestKind } from './guest-kind';
import { MESSAGES, SELF_APPROVAL_BLOCKED, VMID_MISMATCH } from './messages';
import type { DeletionReasonCode } from './result-reasons';

export const DELETION_STATES = ['pending', 'approved', 'executing', 'succeeded', 'failed', 'rejected', 'expired'] as const;
export type DeletionState = (typeof DELETION_STATES)[number];
/** States a request never leaves. */
export const FINAL_DELETION_STATES: readonly DeletionState[] = ['succeeded', 'failed', 'rejected', 'expired'];

/** The VMID an authorizer types to approve or confirm a destroy (the API's JSON body and the pages' form). */
export const TypedVmid = z.number().int().positive();
/** Why a request is rejected (the API's JSON body and the pages' form). */
export const RejectionReason = z.string().trim().min(1, 'a reason is required').max(255);

/** A refused decision is recorded in a request's history at most once per actor in this interval. */
export const REFUSAL_RECORD_INTERVAL_MS = 60_000;

/** The actor recorded for a decision whose signature did not verify: whoever it claims to be is only a claim. */
export const UNVERIFIED_ACTOR = 'unverified';

/**
 * Whether a refused decision of a user is worth a history entry: only users who hold some permission (anyone else
 * is noise, and could otherwise fill the history). Unverified decisions are recorded under UNVERIFIED_ACTOR.
 */
export function recordsRefusalsOf(permissions: readonly string[]): boolean {
  return permissions.length > 0;
}

export interface DecisionRefusal {
  code: 'permission_denied' | 'self_approval_blocked' | 'invalid_state' | 'vmid_mismatch' | 'reason_required';
  detail: string;
}

/** What every four-eyes rule reads: the request, who acts on it, and the VMID they typed. */
export interface FourEyesInput {
  state: DeletionState;
  requestVmid: number;
  requestedBy: string;
  actor: string;
  /** The issuer chain of the token the actor used (empty when unknown, e.g. a decision signed before chains existed). */
  actorTokenIssuers: readonly string[];
  actorPermissions: readonly string[];
  selfApproveAllowed: boolean;
  typedVmid?: number;
}

export interface DecisionInput extends FourEyesInput {
  action: 'approve' | 'reject';
  reason?: string;
}

const PERMISSION_DENIED = `${MESSAGES.permissionDenied}: authorize_deletion_request is required to decide deletion requests.`;

function permissionRefusal(permissions: readonly string[]): DecisionRefusal & { code: 'permission_denied' } | null {
  return hasPermission(permissions, 'authorize_deletion_request') ? null : { code: 'permission_denied', detail: PERMISSION_DENIED };
}

/**
 * Four eyes: the requester may not approve, neither under their own name nor with a token they issued (directly or
 * through a token they issued). Exported for every decision that needs a second person (approve, confirm-destroyed).
 */
export function isSelfApproval(who: { actor: string; actorTokenIssuers: readonly string[]; requestedBy: string }): boolean {
  return who.actor === who.requestedBy || who.actorTokenIssuers.includes(who.requestedBy);
}

export function selfApprovalRefusal(who: { actor: string; actorTokenIssuers: readonly string[]; requestedBy: string; selfApproveAllowed: boolean }): DecisionRefusal & { code: 'self_approval_blocked' } | null {
  return isSelfApproval(who) && !who.selfApproveAllowed ? { code: 'self_approval_blocked', detail: SELF_APPROVAL_BLOCKED } : null;
}

/**
 * The four-eyes rules, in the order users meet them: permission, state, typed VMID, then requester ≠ approver.
 * Shared by the API (for an immediate answer) and the DeletionWorkflow (which re-checks before acting).
 */
export function checkDecision(input: DecisionInput): DecisionRefusal | null {
  const denied = permissionRefusal(input.actorPermissions);
  if (denied) return denied;
  if (input.state !== 'pending') {
    return { code: 'invalid_state', detail: `Deletion request is ${input.state}; only pending requests can be ${input.action === 'approve' ? 'approved' : 'rejected'}.` };
  }
  if (input.action === 'reject') {
    const reason = input.reason?.trim() ?? '';
    if (reason.length === 0) return { code: 'reason_required', detail: 'A rejection needs a reason.' };
    return null;
  }
  return secondPersonRefusal(input);
}

/** An approval or a confirmation names the request by its typed VMID and comes from someone other than the requester. */
function secondPersonRefusal(input: FourEyesInput): DecisionRefusal | null {
  if (input.typedVmid !== input.requestVmid) return { code: 'vmid_mismatch', detail: VMID_MISMATCH };
  return selfApprovalRefusal(input);
}

/** Why an approved request may not be destroyed now; `code` is stored beside the sentence as `reasonCode`. */
export interface ExecutionRefusal { code: DeletionReasonCode; message: string }

export interface ExecutionCheckInput {
  /** `firstClosedGate` for a delete, evaluated right now (master flag, backend, endpoint, allow_writes). */
  closedGate: ClosedGate | null;
  approver: string | null;
  /** The issuer chain of the token the approval was made with. */
  approverTokenIssuers: readonly string[];
  approverPermissions: readonly string[];
  requestedBy: string;
  selfApproveAllowed: boolean;
}

/**
 * Checked right before the destroy (and again right before the irreversible call): the gates must still be open, and
 * the approver must still hold `authorize_deletion_request` and still be someone other than the requester.
 */
export function executionRefusal(input: ExecutionCheckInput): ExecutionRefusal | null {
  if (input.closedGate) return { code: input.closedGate.reason, message: input.closedGate.message };
  if (!input.approver) return { code: 'not_approved', message: 'The request has no approver; nothing was destroyed.' };
  const denied = permissionRefusal(input.approverPermissions);
  if (denied) return { code: denied.code, message: `${MESSAGES.permissionDenied}: ${input.approver} no longer holds authorize_deletion_request; nothing was destroyed.` };
  const self = selfApprovalRefusal({
    actor: input.approver, actorTokenIssuers: input.approverTokenIssuers, requestedBy: input.requestedBy, selfApproveAllowed: input.selfApproveAllowed,
  });
  if (self) return { code: self.code, message: self.detail };
  return null;
}

export interface GuestIdentity { vmid: number; node: string; kind: GuestKind; name: string }

/** What proxbox-api lists for the guest now (proxbox-api.md §8.1), or null when the vmid is not on the cluster. */
export interface ListedGuest { node?: string | null; type: string; name?: string | null }

/** Compares the guest as listed now with the request's snapshot: the destroy only goes ahead on an exact match. */
export function snapshotMismatch(snapshot: GuestIdentity, guest: ListedGuest | null): ExecutionRefusal | null {
  const what = `${snapshot.kind} ${snapshot.vmid} ${snapshot.name}`;
  if (!guest) return { code: 'guest_missing', message: `Guest ${what} no longer exists on the cluster; nothing was destroyed.` };
  const changes: string[] = [];
  if ((guest.node ?? null) !== snapshot.node) changes.push(`it is on node ${guest.node ?? '(unknown)'}, not ${snapshot.node}`);
  if (guest.type !== snapshot.kind) changes.push(`it is a ${guest.type}, not a ${snapshot.kind}`);
  if ((guest.name ?? null) !== snapshot.name) changes.push(`it is named ${guest.name ?? '(no name)'}, not ${snapshot.name}`);
  if (changes.length === 0) return null;
  return { code: 'guest_changed', message: `Guest ${what} no longer matches the deletion request: ${changes.join('; ')}. Refusing to destroy it; nothing was destroyed.` };
}

/** proxbox-api.md §10 (a): the contract's exact sentence when proxbox-api cannot register a deletion record, then how to confirm. */
export function backendCannotRegisterDeletion(request: { id: number; kind: GuestKind; vmid: number; node: string }): ExecutionRefusal {
  return {
    code: 'backend_cannot_register_deletion',
    message: `proxbox-api does not offer POST /intent/deletion-requests; the approved deletion of ${request.kind} ${request.vmid} on ${request.node} cannot be executed through it. Destroy it manually (then confirm here) or upgrade proxbox-api. ${confirmDestroyedStep(request)}`,
  };
}

/**
 * The failures after which an operator may destroy the guest by hand and an authorizer confirms it
 * (`POST /api/v1/deletion-requests/{id}/confirm-destroyed`): proxbox-api could not take the deletion, or the destroy
 * was sent and its outcome is unknown. Any other failure destroyed nothing, or the destroy task failed.
 */
export const MANUALLY_CONFIRMABLE_REASONS = ['backend_cannot_register_deletion', 'unknown_outcome'] as const satisfies readonly DeletionReasonCode[];

export function isManuallyConfirmable(request: { state: DeletionState; reasonCode: string | null }): boolean {
  return request.state === 'failed' && (MANUALLY_CONFIRMABLE_REASONS as readonly string[]).includes(request.reasonCode ?? '');
}

/** The next step named in the message of a confirmable failure. */
export function confirmDestroyedStep(request: { id: number; vmid: number }): string {
  return `Once the guest is gone, an authorizer other than the requester confirms it with POST /api/v1/deletion-requests/${request.id}/confirm-destroyed {"vmid": ${request.vmid}}.`;
}

export interface ConfirmDestroyedInput extends FourEyesInput {
  reasonCode: string | null;
  typedVmid: number;
}

/** The rules of an approval (permission, state, typed VMID, four eyes), for confirming a manual destroy. */
export function checkConfirmDestroyed(input: ConfirmDestroyedInput): DecisionRefusal | null {
  const denied = permissionRefusal(input.actorPermissions);
  if (denied) return denied;
  if (!isManuallyConfirmable(input)) {
    return {
      code: 'invalid_state',
      detail: `Deletion request is ${input.state}${input.reasonCode ? ` (${input.reasonCode})` : ''}; only a request that failed with ${MANUALLY_CONFIRMABLE_REASONS.join(' or ')} can be confirmed destroyed.`,
    };
  }
  return secondPersonRefusal(input);
}

/**
 * Why a manual destroy was not confirmed after the rules passed: the cluster still lists the VMID, the request's
 * endpoint no longer reaches the request's cluster, or the cluster could not be read.
 */
export interface ConfirmDestroyedRefusal { code: 'guest_still_present' | 'endpoint_changed' | 'cluster_unreadable'; detail: string }

/**
 * A manual destroy is confirmed only when the cluster no longer lists the VMID at all: a guest on it, even renamed,
 * moved or another one, counts as present (fail closed; `listed` is null only when proxbox-api.md §8.1 answered).
 */
export function guestStillPresent(snapshot: GuestIdentity, listed: (ListedGuest & { lock?: string | null }) | null): ConfirmDestroyedRefusal | null {
  if (!listed) return null;
  const where = `${listed.type} ${snapshot.vmid} ${listed.name ?? '(no name)'} on node ${listed.node ?? '(unknown)'}`;
  const held = listed.lock ? ` (a task holds it: lock ${listed.lock}; wait for it to end)` : '';
  return {
    code: 'guest_still_present',
    detail: `The cluster still lists ${where}${held}; destroy ${snapshot.kind} ${snapshot.vmid} ${snapshot.name} in Proxmox first, then confirm again. Nothing changed.`,
  };
}

/**
 * A VMID missing from a cluster proves something only on the request's cluster: the cluster the request's endpoint
 * reaches now must still hold the request's node (an endpoint pointed elsewhere since, or a node gone, proves nothing).
 */
export function nodeOutsideCluster(snapshot: GuestIdentity, endpointName: string, clusterNodes: readonly string[]): ConfirmDestroyedRefusal | null {
  if (clusterNodes.includes(snapshot.node)) return null;
  return {
    code: 'endpoint_changed',
    detail: `The cluster behind endpoint ${endpointName} has no node ${snapshot.node}, where ${snapshot.kind} ${snapshot.vmid} ${snapshot.name} was: `
      + `the endpoint no longer reaches the request's cluster, so VMID ${snapshot.vmid} missing there proves nothing. Nothing changed.`,
  };
}

/** Absence could not be established (proxbox-api or the cluster did not answer, or no backend or endpoint is configured). */
export function clusterUnreadable(snapshot: GuestIdentity, why: string): ConfirmDestroyedRefusal {
  return {
    code: 'cluster_unreadable',
    detail: `Could not establish that ${snapshot.kind} ${snapshot.vmid} ${snapshot.name} is gone: ${why}. Nothing changed; confirm again once proxbox-api and the cluster answer.`,
  };
}

/** The `reason` of a request closed by a confirmed manual destroy. */
export function manuallyDestroyedReason(snapshot: GuestIdentity, by: string, at: Date): string {
  return `${snapshot.kind} ${snapshot.vmid} ${snapshot.name} was destroyed by hand: ${by} confirmed it at ${at.toISOString()}, and the cluster no longer lists VMID ${snapshot.vmid}.`;
}

const DAY_MS = 86_400_000;

/** When a new request expires: `deletionRequestTtlDays` whole days after creation. */
export function deletionExpiresAt(now: Date, ttlDays: number): Date {
  return new Date(now.getTime() + ttlDays * DAY_MS);
}
