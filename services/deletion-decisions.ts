import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { UpstreamError } from '../clients/errors';
import { locateGuest } from '../clients/guest-lookup';
import { capabilitiesOf, proxboxClientFor } from '../clients/proxbox';
import type { UpstreamErrorObserver } from '../clients/errors';
import type { DeletionRequestStore, DeletionRow } from '../db/deletion-requests';
import type { EndpointStore } from '../db/endpoints';
import type { SettingsStore } from '../db/settings';
import type { DeliveryStore } from '../db/deliveries';
import type { DeliverySummary } from '../domain/deliveries';
import type { AuthenticatedUser } from '../db/users';
import { signDecision, type DeletionDecision } from '../domain/approval-signature';
import {
  FINAL_DELETION_STATES, checkConfirmDestroyed, checkDecision, clusterUnreadable, guestStillPresent, manuallyDestroyedReason, nodeOutsideCluster, recordsRefusalsOf,
  type ConfirmDestroyedRefusal, type DecisionRefusal,
} from '../domain/deletion-rules';
import { MESSAGES } from '../domain/messages';
import { decideUpdate } from '../workflows/definitions';
import { refuse, type Refusal } from './refusal';
import { runTrouble, type RunTrouble } from './run-trouble';

/**
 * Why a decision did not count: the four-eyes rules (checked here for an immediate answer and again by the workflow),
 * or the workflow's answer (its refusal's type is the code), or why the workflow could not answer.
 */
export type DecisionRefusalCode = DecisionRefusal['code'] | 'not_found' | 'decision_not_recorded' | 'decision_timeout' | (string & {});

export type DecisionResult = { ok: true; request: DeletionRow } | Refusal<DecisionRefusalCode>;

export type ConfirmDestroyedResult = { ok: true; request: DeletionRow } | Refusal<DecisionRefusal['code'] | ConfirmDestroyedRefusal['code'] | 'not_found'>;

export interface DeletionDecisionDeps {
  deletions: DeletionRequestStore;
  /** What NetBox was told about each request (netbox.md §7.6). */
  deliveries: DeliveryStore;
  settings: SettingsStore;
  /** The backend and the request's own Proxmox endpoint, to read the cluster when a manual destroy is confirmed. */
  endpoints: EndpointStore;
  temporal: Client;
  approvalSecret: string;
  /** Told of every failed proxbox-api call (the process's metrics). */
  onUpstreamError?: UpstreamErrorObserver;
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

  async show(id: number): Promise<{ ok: true; request: DeletionRow; trouble: RunTrouble | null; netboxWriteback: DeliverySummary; notifications: DeliverySummary } | Refusal<'not_found'>> {
    const row = await this.deps.deletions.get(id);
    if (!row) return refuse('not_found', NOT_FOUND);
    const finished = FINAL_DELETION_STATES.includes(row.state);
    const [trouble, netboxWriteback, notifications] = await Promise.all([
      finished ? null : runTrouble(this.deps.temporal, row.workflowId), this.deps.deliveries.summary('deletion_request', String(row.id)),
      this.deps.deliveries.summary('deletion_request', String(row.id), 'notifications'),
    ]);
    return { ok: true, request: row, trouble, netboxWriteback, notifications };
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

  /**
   * An authorizer confirms that the guest of a request that failed with backend_cannot_register_deletion or
   * unknown_outcome was destroyed by hand: the approval's rules, then the cluster as the request's own endpoint sees it;
   * only a cluster that answers, no longer lists the VMID and still holds the request's node closes the request
   * `succeeded` (`manually_destroyed`).
   * No workflow takes part: the request's run has ended, and a read followed by one conditional update needs no
   * durability (a confirmation interrupted half-way changed nothing). Refusals are recorded like refused approvals.
   */
  async confirmDestroyed(id: number, user: AuthenticatedUser, typedVmid: number): Promise<ConfirmDestroyedResult> {
    const { deletions } = this.deps;
    const row = await deletions.get(id);
    if (!row) return refuse('not_found', NOT_FOUND);
    const refused = async (refusal: DecisionRefusal | ConfirmDestroyedRefusal) => {
      if (recordsRefusalsOf(user.permissions)) {
        await deletions.appendRefusal(row.id, { at: new Date().toISOString(), actor: user.username, action: 'confirm_destroyed', outcome: 'refused', detail: refusal.detail });
      }
      return refuse(refusal.code, refusal.detail);
    };
    const { selfApproveAllowed } = await this.deps.settings.get();
    const rules = (r: DeletionRow) => checkConfirmDestroyed({
      state: r.state, reasonCode: r.reasonCode, requestVmid: r.vmid, requestedBy: r.requestedBy, actor: user.username,
      actorTokenIssuers: user.tokenIssuers, actorPermissions: user.permissions, selfApproveAllowed, typedVmid,
    });
    const broken = rules(row) ?? await this.absenceUnproven(row);
    if (broken) return refused(broken);

    const at = new Date();
    const confirmed = await deletions.confirmManuallyDestroyed(row, {
      by: user.username, tokenIssuers: user.tokenIssuers, at, reason: manuallyDestroyedReason(row, user.username, at),
      detail: `proxbox-api no longer lists VMID ${row.vmid} on the cluster that holds node ${row.node} (read on the node, then the cluster listing); destroyed by hand, confirmed by ${user.username}.`,
    });
    if (confirmed) return { ok: true, request: confirmed };
    // Someone else changed the request while the cluster was read (another confirmer won): its state says why.
    const now = (await deletions.get(row.id))!;
    return refused(rules(now) ?? { code: 'invalid_state', detail: `Deletion request is ${now.state}; it changed while the cluster was read. Nothing changed.` });
  }

  /**
   * Whether the cluster still lists the request's guest, read through the request's own endpoint (never anything the
   * caller sent) with the deletion's own lookup, and whether that cluster is still the request's (it holds the
   * request's node). Fail closed: what cannot be read is not gone.
   */
  private async absenceUnproven(row: DeletionRow): Promise<ConfirmDestroyedRefusal | null> {
    const [backend, endpoint] = await Promise.all([this.deps.endpoints.getBackend(), this.deps.endpoints.get(row.endpointId)]);
    if (!backend) return clusterUnreadable(row, MESSAGES.noBackend);
    if (!endpoint) return clusterUnreadable(row, `the request's Proxmox endpoint (id ${row.endpointId}) no longer exists`);
    const client = proxboxClientFor(backend, this.deps.onUpstreamError);
    try {
      const caps = await capabilitiesOf(client, backend.url);
      const listed = await locateGuest(client, caps, endpoint.backendEndpointId, row);
      if (listed) return guestStillPresent(row, listed);
      const nodes = await client.clusterResources(endpoint.backendEndpointId, 'node');
      return nodeOutsideCluster(row, endpoint.name, nodes.flatMap((n) => (n.node ? [n.node] : [])));
    } catch (err) {
      if (err instanceof UpstreamError) return clusterUnreadable(row, err.message);
      throw err;
    }
  }
}
