import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import type { DeletionRequestStore, DeletionRow } from '../db/deletion-requests';
import type { SettingsStore } from '../db/settings';
import type { DeliveryStore } from '../db/deliveries';
import type { WritebackSummary } from '../domain/netbox-writeback';
import type { AuthenticatedUser } from '../db/users';
import { signDecision, type DeletionDecision } from '../domain/approval-signature';
import { FINAL_DELETION_STATES, checkDecision, recordsRefusalsOf, type DecisionRefusal } from '../domain/deletion-rules';
import { decideUpdate } from '../workflows/definitions';
import { refuse, type Refusal } from './refusal';
import { runTrouble, type RunTrouble } from './run-trouble';

/**
 * Why a decision did not count: the four-eyes rules (checked here for an immediate answer and again by the workflow),
 * or the workflow's answer (its refusal's type is the code), or why the workflow could not answer.
 */
export type DecisionRefusalCode = DecisionRefusal['code'] | 'not_found' | 'decision_not_recorded' | 'decision_timeout' | (string & {});

export type DecisionResult = { ok: true; request: DeletionRow } | Refusal<DecisionRefusalCode>;

export interface DeletionDecisionDeps {
  deletions: DeletionRequestStore;
  /** What NetBox was told about each request (netbox.md §7.6). */
  deliveries: DeliveryStore;
  settings: SettingsStore;
  temporal: Client;
  approvalSecret: string;
}

/** The workflow's refusal (or why it could not answer) as the refusal the approver sees; null for anything else. */
function workflowRefusal(err: unknown, state: string): Refusal | null {
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type) {
    return refuse(err.cause.type, err.cause.message);
  }
  if (err instanceof WorkflowUpdateFailedError) {
    return refuse('decision_not_recorded', 'The deletion workflow could not record the decision; nothing changed. Try again.');
  }
  if (err instanceof WorkflowNotFoundError) {
    return refuse('invalid_state', `The deletion workflow of this request is not running (the request is ${state}); it can no longer be decided.`);
  }
  if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
    return refuse('decision_timeout', 'The deletion workflow did not answer in time; check the request before trying again.');
  }
  return null;
}

const NOT_FOUND = 'No deletion request with this id.';

/** Deciding deletion requests (four eyes) and reading one with what keeps its run from moving. */
export class DeletionDecisions {
  constructor(private readonly deps: DeletionDecisionDeps) {}

  async show(id: number): Promise<{ ok: true; request: DeletionRow; trouble: RunTrouble | null; netboxWriteback: WritebackSummary } | Refusal<'not_found'>> {
    const row = await this.deps.deletions.get(id);
    if (!row) return refuse('not_found', NOT_FOUND);
    const finished = FINAL_DELETION_STATES.includes(row.state);
    const [trouble, netboxWriteback] = await Promise.all([
      finished ? null : runTrouble(this.deps.temporal, row.workflowId), this.deps.deliveries.summary('deletion_request', String(row.id)),
    ]);
    return { ok: true, request: row, trouble, netboxWriteback };
  }

  /** Checks the rules for an immediate answer, then hands a signed decision to the workflow, which checks again. */
  async decide(id: number, user: AuthenticatedUser, action: 'approve' | 'reject', extra: { typedVmid?: number; reason?: string }): Promise<DecisionResult> {
    const { deletions } = this.deps;
    const row = await deletions.get(id);
    if (!row) return refuse('not_found', NOT_FOUND);
    const settings = await this.deps.settings.get();
    const refusal = checkDecision({
      action, state: row.state, requestVmid: row.vmid, requestedBy: row.requestedBy, actor: user.username, actorTokenIssuers: user.tokenIssuers,
      actorPermissions: user.permissions, selfApproveAllowed: settings.selfApproveAllowed, ...extra,
    });
    if (refusal) {
      if (recordsRefusalsOf(user.permissions)) {
        await deletions.appendRefusal(row.id, { at: new Date().toISOString(), actor: user.username, action, outcome: 'refused', detail: refusal.detail });
      }
      return refuse(refusal.code, refusal.detail);
    }
    const decision: DeletionDecision = {
      requestId: row.id, workflowId: row.workflowId, action, actor: user.username, tokenIssuers: user.tokenIssuers, issuedAt: new Date().toISOString(), nonce: randomUUID(), ...extra,
    };
    try {
      await this.deps.temporal.workflow.getHandle(row.workflowId).executeUpdate(decideUpdate, { args: [signDecision(this.deps.approvalSecret, decision)] });
    } catch (err) {
      const refused = workflowRefusal(err, row.state);
      if (!refused) throw err;
      return refused;
    }
    return { ok: true, request: (await deletions.get(row.id))! };
  }
}
