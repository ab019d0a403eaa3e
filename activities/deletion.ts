import { Context } from '@temporalio/activity';
import { PENDING_DELETION_TAG, type DeletionTarget } from '../contracts/proxbox-api';
import { ProxboxError } from '../clients/proxbox';
import type { DeletionRow } from '../db/deletion-requests';
import { verifyDecision, type SignedDeletionDecision } from '../domain/approval-signature';
import { checkDecision, type DecisionRefusal } from '../domain/deletion-rules';
import { MESSAGES } from '../domain/messages';
import { intentEnabled } from '../domain/settings';
import { backendClient, capabilitiesOf, type ActivityDeps } from './deps';
import { waitForTask } from './proxmox-tasks';

export type DecisionOutcome =
  | { ok: true; action: 'approve' | 'reject'; actor: string; state: string }
  | { ok: false; refusal: DecisionRefusal | { code: 'forged_decision'; status: 403; detail: string } };

export type ExecutionOutcome = { state: 'succeeded' | 'failed'; reason: string | null; upid: string | null };

const SYSTEM = 'proxbox-intent';
const targetOf = (r: DeletionRow): DeletionTarget => ({ vmid: r.vmid, node: r.node, kind: r.kind });
const entry = (actor: string, action: string, outcome: 'ok' | 'refused' | 'error', detail?: string) =>
  ({ at: new Date().toISOString(), actor, action, outcome, ...(detail ? { detail } : {}) });

export function createDeletionActivities(deps: ActivityDeps) {
  async function load(requestId: number): Promise<DeletionRow> {
    const row = await deps.deletions.get(requestId);
    if (!row) throw new Error(`DeletionRequest ${requestId} does not exist`);
    return row;
  }

  /** Best effort: the request stands whether or not the tag could be written; history says which. */
  async function setTag(row: DeletionRow, remove: boolean, actor: string): Promise<boolean> {
    const action = remove ? 'untag_pending_deletion' : 'tag_pending_deletion';
    const [settings, endpoint, backend] = await Promise.all([deps.settings.get(), deps.endpoints.get(row.endpointId), backendClient(deps)]);
    const closed = !intentEnabled(settings) ? MESSAGES.masterFlagDisabled : !backend ? MESSAGES.noBackend
      : !endpoint?.allowWrites ? MESSAGES.writesDisabled : null;
    if (closed || !backend || !endpoint) {
      await deps.deletions.appendHistory(row.id, entry(SYSTEM, action, 'refused', `not written: ${closed}`));
      return false;
    }
    try {
      const res = await backend.client.tag(endpoint.backendEndpointId, targetOf(row), PENDING_DELETION_TAG, actor, remove);
      await deps.deletions.transition(row.id, { taggedPendingDeletion: res.tags_after.includes(PENDING_DELETION_TAG) },
        entry(SYSTEM, action, 'ok', `tags now: ${res.tags_after.join(';') || '(none)'}`));
      return true;
    } catch (err) {
      await deps.deletions.appendHistory(row.id, entry(SYSTEM, action, 'error', err instanceof Error ? err.message : String(err)));
      return false;
    }
  }

  return {
    async markPendingDeletion(requestId: number): Promise<{ tagged: boolean }> {
      const row = await load(requestId);
      if (row.taggedPendingDeletion) return { tagged: true };
      return { tagged: await setTag(row, false, row.requestedBy) };
    },

    async untagPendingDeletion(requestId: number): Promise<{ untagged: boolean }> {
      const row = await load(requestId);
      return { untagged: await setTag(row, true, row.authorizer ?? SYSTEM) };
    },

    /**
     * The workflow's own check of an approval or rejection: the decision must carry our API's signature, and the
     * four-eyes rules are evaluated again against the current state, permissions and settings. Refusals are
     * recorded in the request's history.
     */
    async decideDeletion(requestId: number, signed: SignedDeletionDecision): Promise<DecisionOutcome> {
      const row = await load(requestId);
      const check = verifyDecision(deps.approvalSecret, signed, new Date());
      const claimed = typeof signed?.decision?.actor === 'string' ? signed.decision.actor : 'unknown';
      if (!check.ok || signed.decision.requestId !== requestId || signed.decision.workflowId !== row.workflowId) {
        const detail = check.ok ? 'the decision names another deletion request' : check.why;
        await deps.deletions.appendHistory(requestId, entry(claimed, `${signed?.decision?.action ?? 'decide'} (unsigned)`, 'refused', detail));
        return { ok: false, refusal: { code: 'forged_decision', status: 403, detail: `Decision refused: ${detail}.` } };
      }
      const d = signed.decision;
      const [settings, permissions] = await Promise.all([deps.settings.get(), deps.users.permissionsOf(d.actor)]);
      const refusal = checkDecision({
        action: d.action, state: row.state, requestVmid: row.vmid, requestedBy: row.requestedBy, actor: d.actor,
        actorPermissions: permissions, selfApproveAllowed: settings.selfApproveAllowed,
        ...(d.typedVmid !== undefined ? { typedVmid: d.typedVmid } : {}), ...(d.reason !== undefined ? { reason: d.reason } : {}),
      });
      if (refusal) {
        await deps.deletions.appendHistory(requestId, entry(d.actor, d.action, 'refused', refusal.detail));
        return { ok: false, refusal };
      }
      const state = d.action === 'approve' ? 'approved' : 'rejected';
      await deps.deletions.transition(requestId, {
        state, authorizer: d.actor, decidedAt: new Date(), ...(d.action === 'reject' ? { reason: d.reason ?? null } : {}),
      }, entry(d.actor, d.action, 'ok', d.reason));
      return { ok: true, action: d.action, actor: d.actor, state };
    },

    async expireDeletion(requestId: number): Promise<void> {
      await deps.deletions.transition(requestId, { state: 'expired', finishedAt: new Date(), reason: 'The request expired before anyone approved it' },
        entry(SYSTEM, 'expire', 'ok'));
    },

    /**
     * After approval: re-check the gates, confirm the guest still matches the snapshot, then register, approve and
     * execute the deletion in proxbox-api and wait for the destroy task. Never retried blindly: the workflow runs
     * this activity once and any failure ends the request `failed`.
     */
    async executeDeletion(requestId: number): Promise<ExecutionOutcome> {
      const row = await load(requestId);
      const fail = async (reason: string): Promise<ExecutionOutcome> => {
        await deps.deletions.transition(requestId, { state: 'failed', finishedAt: new Date(), reason }, entry(SYSTEM, 'execute', 'error', reason));
        return { state: 'failed', reason, upid: null };
      };
      const [settings, endpoint, backend] = await Promise.all([deps.settings.get(), deps.endpoints.get(row.endpointId), backendClient(deps)]);
      if (!intentEnabled(settings)) return fail(MESSAGES.masterFlagDisabled);
      if (!backend) return fail(MESSAGES.noBackend);
      if (!endpoint?.allowWrites) return fail(MESSAGES.writesDisabled);
      const { client, baseUrl } = backend;
      const signal = Context.current().cancellationSignal;
      const target = targetOf(row);
      const approver = row.authorizer ?? SYSTEM;
      try {
        const guest = await client.findGuest(endpoint.backendEndpointId, row.vmid, signal);
        if (!guest) return fail(`Guest ${row.kind} ${row.vmid} no longer exists on the cluster; nothing was destroyed`);
        const moved = guest.node !== row.node ? `node ${guest.node} (snapshot: ${row.node})`
          : guest.type !== row.kind ? `kind ${guest.type} (snapshot: ${row.kind})`
            : (guest.name ?? null) !== row.name ? `name ${guest.name ?? '(none)'} (snapshot: ${row.name})` : null;
        if (moved) return fail(`Guest ${row.vmid} no longer matches the snapshot: ${moved}; refusing to destroy`);
        const caps = await capabilitiesOf(client, baseUrl, true);
        if (!caps.registerDeletion) {
          return fail(`backend_cannot_register_deletion: proxbox-api does not offer POST /intent/deletion-requests; the approved deletion of ${row.kind} ${row.vmid} on ${row.node} cannot be executed through it. Destroy it manually (then confirm here) or upgrade proxbox-api.`);
        }
        const record = await client.registerDeletion({
          ...target, endpoint_id: endpoint.backendEndpointId, requested_by: row.requestedBy, client_ref: row.workflowId,
        }, row.requestedBy);
        await deps.deletions.transition(requestId, { backendRecordId: record.id }, entry(SYSTEM, 'register_backend_record', 'ok', `proxbox-api record ${record.id}`));
        if (record.state === 'pending') await client.approveDeletion(record.id, target, approver);
        await deps.deletions.transition(requestId, { state: 'executing', executedAt: new Date() }, entry(approver, 'execute', 'ok'));
        const res = await client.executeDeletion(record.id, target, approver, signal);
        const task = await waitForTask(client, caps, { backendEndpointId: endpoint.backendEndpointId, node: row.node, upid: res.upid, vmid: row.vmid, op: 'destroy' },
          { pollMs: deps.taskPollMs ?? 2000, deadlineMs: deps.taskDeadlineMs ?? 15 * 60_000 });
        if (task.done && !task.ok) return { ...(await fail(`Proxmox destroy task failed: ${task.reason}`)), upid: res.upid };
        const note = task.done ? 'destroy task finished OK' : `destroy accepted; ${task.why}`;
        await deps.deletions.transition(requestId, { state: 'succeeded', finishedAt: new Date(), proxmoxUpid: res.upid }, entry(SYSTEM, 'destroyed', 'ok', note));
        return { state: 'succeeded', reason: null, upid: res.upid };
      } catch (err) {
        const message = err instanceof ProxboxError && err.unknownOutcome
          ? `${err.message}. The outcome is unknown: check the guest in Proxmox before doing anything else`
          : err instanceof Error ? err.message : String(err);
        return fail(message);
      }
    },
  };
}

export type DeletionActivities = ReturnType<typeof createDeletionActivities>;
