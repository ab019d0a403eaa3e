import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { UpstreamError } from '../clients/errors';
import { PENDING_DELETION_TAG, type DeletionTarget } from '../contracts/proxbox-api';
import { ProxboxError, capabilitiesOf, type Capabilities, type ProxboxClient } from '../clients/proxbox';
import type { DeletionRow } from '../db/deletion-requests';
import type { DeletionHistoryEntry } from '../db/schema';
import { decisionTargetMismatch, verifyDecision, type SignedDeletionDecision } from '../domain/approval-signature';
import {
  UNVERIFIED_ACTOR, backendCannotRegisterDeletion, checkDecision, confirmDestroyedStep, executionRefusal, recordsRefusalsOf, snapshotMismatch, type DecisionRefusal,
  type ExecutionRefusal,
} from '../domain/deletion-rules';
import { firstClosedGate } from '../domain/gates';
import { MESSAGES } from '../domain/messages';
import { intentEnabled } from '../domain/settings';
import { backendClient, type ActivityDeps } from './deps';
import { waitForTask } from './proxmox-tasks';
import { locateGuest } from '../clients/guest-lookup';
import { createUpstreamGate } from './upstream-gate';
import type { BackendConfig } from '../db/endpoints';
import type { ClosedGate } from '../domain/gates';
import { withHeartbeat } from './heartbeat';
import { acquireWriteSlot, reclaimWriteSlot } from './write-slots';
import type { LockLease } from '../db/locks';
import { addLogIds } from './log-ids';

/** Tries of the pending-deletion tag when proxbox-api fails for a passing reason (retries 1 s, 2 s, 4 s, 8 s apart). */
const TAG_ATTEMPTS = 5;

export interface ForgedDecision { code: 'forged_decision'; detail: string }

export type DecisionOutcome =
  | { ok: true; action: 'approve' | 'reject'; actor: string; state: 'approved' | 'rejected'; reason: string | null }
  | { ok: false; refusal: DecisionRefusal | ForgedDecision };

/** How a decision reached the workflow: the API sends updates; a signal can only come from someone else's tooling. */
export type DecisionChannel = 'update' | 'signal';

export type ExecutionOutcome =
  | { state: 'succeeded'; reason: null; reasonCode: null; upid: string | null }
  | { state: 'failed'; reason: string; reasonCode: string; upid: string | null };

const SYSTEM = 'proxbox-intent';
/** History action written, in the same statement that re-checks the row, right before the destroy call. */
const DESTROY_SENDING = 'destroy_sending';
type Step = 'read' | 'register' | 'approve' | 'execute' | 'task';
const STEP_WORDS: Record<Step, string> = {
  read: 'read the guest', register: 'register the deletion', approve: 'approve the deletion record',
  execute: 'execute the deletion', task: 'follow the destroy task',
};
const targetOf = (r: DeletionRow): DeletionTarget => ({ vmid: r.vmid, node: r.node, kind: r.kind });
/** The destroy's write slot belongs to its request, so the activity that settles a lost execution can keep it while it follows the task. */
const slotHolder = (requestId: number) => `deletion-request:${requestId}`;
/** How long an approved destroy waits for its VMID and a slot on its node: its activity has 30 minutes, and following the destroy task may take PROXMOX_TASK_DEADLINE_S (15 minutes by default) of them. */
const SLOT_WAIT_MS = 10 * 60_000;
const entry = (actor: string, action: string, outcome: DeletionHistoryEntry['outcome'], detail?: string | null, ref?: string): DeletionHistoryEntry =>
  ({ at: new Date().toISOString(), actor, action, outcome, ...(detail ? { detail } : {}), ...(ref ? { ref } : {}) });
const refused = (actor: string, action: string, detail: string, ref?: string) => ({ ...entry(actor, action, 'refused', detail, ref), outcome: 'refused' as const });
/** What an unverified message claims, cut short: it lands in history, and anyone who reaches Temporal can write it. */
const claimed = (value: unknown, fallback: string) => (typeof value === 'string' && value.length > 0 ? value.slice(0, 100) : fallback);

export function createDeletionActivities(deps: ActivityDeps) {
  const upstreamGate = createUpstreamGate(deps.onUpstreamError);
  async function load(requestId: number): Promise<DeletionRow> {
    const row = await deps.deletions.get(requestId);
    if (!row) throw new Error(`DeletionRequest ${requestId} does not exist`);
    addLogIds({ deletionRequestId: row.id, vmid: row.vmid, ...(row.applyJobId ? { jobId: row.applyJobId } : {}) });
    return row;
  }

  /** The gates of a delete and the approver's entitlement, read from PostgreSQL now. */
  async function refusalNow(row: DeletionRow): Promise<ExecutionRefusal | null> {
    const [settings, endpoint, backend, approverPermissions] = await Promise.all([
      deps.settings.get(), deps.endpoints.get(row.endpointId), deps.endpoints.getBackend(),
      row.authorizer ? deps.users.permissionsOf(row.authorizer) : Promise.resolve([]),
    ]);
    const localGate = firstClosedGate({
      // Opt-in and destroy confirmation belong to the merged branch and were checked when the request was made.
      settings, optedIn: true, destroyConfirmed: true, backendConfigured: Boolean(backend), endpoint: endpoint ?? null,
      permissions: null, op: 'delete', kind: row.kind,
    });
    const closedGate = localGate ?? await upstreamGateOrRefusal(backend!, endpoint!.backendEndpointId);
    if (closedGate && 'code' in closedGate) return closedGate;
    return executionRefusal({
      closedGate, approver: row.authorizer, approverTokenIssuers: row.authorizerTokenIssuers, approverPermissions, requestedBy: row.requestedBy,
      selfApproveAllowed: settings.selfApproveAllowed,
    });
  }

  /** proxbox-api's endpoint gate now; a proxbox-api that cannot be read refuses the write (fail closed). */
  async function upstreamGateOrRefusal(backend: BackendConfig, backendEndpointId: number): Promise<ClosedGate | ExecutionRefusal | null> {
    try {
      return await upstreamGate(backend, backendEndpointId);
    } catch (err) {
      return { code: 'backend_unavailable', message: `proxbox-api's endpoint ${backendEndpointId} could not be read (${err instanceof Error ? err.message : String(err)}); nothing was written.` };
    }
  }

  /** Ends an approved or executing request `failed` with its reason; a request already finished stays as it is. */
  async function finishFailed(requestId: number, refusal: ExecutionRefusal, upid: string | null = null): Promise<ExecutionOutcome> {
    await deps.deletions.transition(requestId, { state: 'failed', finishedAt: new Date(), reason: refusal.message, reasonCode: refusal.code },
      entry(SYSTEM, 'failed', 'error', refusal.message), ['approved', 'executing']);
    log.warn(`deletion request ${requestId} failed: ${refusal.message}`, { reasonCode: refusal.code });
    return { state: 'failed', reason: refusal.message, reasonCode: refusal.code, upid };
  }

  return {
    /** Best effort, recorded either way: the request stands whether or not the guest could be tagged. */
    async markPendingDeletion(requestId: number): Promise<{ tagged: boolean }> {
      const row = await load(requestId);
      // A retry that comes after a decision leaves the guest alone: the untag of a rejection may already have run.
      if (row.taggedPendingDeletion || row.state !== 'pending') return { tagged: row.taggedPendingDeletion };
      const [settings, endpoint, backend] = await Promise.all([deps.settings.get(), deps.endpoints.get(row.endpointId), deps.endpoints.getBackend()]);
      const upstream = backend && endpoint?.allowWrites ? await upstreamGateOrRefusal(backend, endpoint.backendEndpointId) : null;
      const closed = !intentEnabled(settings) ? MESSAGES.masterFlagDisabled : !endpoint?.allowWrites ? MESSAGES.writesDisabled : upstream?.message ?? null;
      if (closed) {
        await deps.deletions.appendHistory(row.id, entry(SYSTEM, 'tag_pending_deletion', 'refused', `not written: ${closed}`));
        if (upstream && 'code' in upstream && upstream.code === 'backend_unavailable') retryTagSoon(row);
        return { tagged: false };
      }
      const outcome = await setTag(row, false, row.requestedBy);
      if (outcome === 'transient') retryTagSoon(row);
      log.info(`${row.kind} ${row.vmid} ${row.name}: ${outcome === 'done' ? 'tagged' : 'not tagged'} ${PENDING_DELETION_TAG}`);
      return { tagged: outcome === 'done' };
    },

    /**
     * Removes our own pending-deletion marker after a rejection, expiry or failed execution. It restores the guest's
     * state from before the request, so it is not held back by the master flag or our `allow_writes` (proxbox-api
     * still applies its own endpoint gate, and a refusal is recorded).
     */
    async untagPendingDeletion(requestId: number): Promise<{ untagged: boolean }> {
      const row = await load(requestId);
      return { untagged: await setTag(row, true, row.authorizer ?? SYSTEM) === 'done' };
    },

    /**
     * The workflow's own check of an approval or rejection: the decision must carry our API's signature for this very
     * request and for the workflow that asks (`runningWorkflowId`, the caller's `workflowInfo().workflowId`), and the
     * four-eyes rules are evaluated again against the current state, permissions and settings.
     * Every refusal is recorded in the request's history. A retried activity recognises its own decision (nonce).
     */
    async decideDeletion(requestId: number, signed: SignedDeletionDecision, channel: DecisionChannel, runningWorkflowId: string): Promise<DecisionOutcome> {
      const row = await load(requestId);
      const unverified = (signed as { decision?: Record<string, unknown> } | null)?.decision ?? {};
      const actor = claimed(unverified.actor, 'unknown');
      const action = unverified.action === 'approve' || unverified.action === 'reject' ? unverified.action : 'decide';
      const via = channel === 'signal' ? ' (sent as a Temporal signal)' : '';
      const check = verifyDecision(deps.approvalSecret, signed, new Date());
      const why = !check.ok ? check.why
        : decisionTargetMismatch(signed.decision, { requestId, rowWorkflowId: row.workflowId, runningWorkflowId });
      if (why) {
        // Who it claims to be is unverified: never written as the actor (anyone who reaches Temporal could name alice).
        await deps.deletions.appendRefusal(requestId, refused(UNVERIFIED_ACTOR, action,
          `Decision refused${via}: ${why}. It claimed to come from ${JSON.stringify(actor)}.`));
        return { ok: false, refusal: { code: 'forged_decision', detail: `Decision refused: ${why}.` } };
      }
      const d = signed.decision;
      const state: 'approved' | 'rejected' = d.action === 'approve' ? 'approved' : 'rejected';
      const reason = d.action === 'reject' ? d.reason?.trim() ?? null : null;
      const done = { ok: true as const, action: d.action, actor: d.actor, state, reason };
      if (row.history.some((h) => h.ref === d.nonce && h.outcome === 'ok')) return done;

      const [settings, permissions] = await Promise.all([deps.settings.get(), deps.users.permissionsOf(d.actor)]);
      const refusal = checkDecision({
        action: d.action, state: row.state, requestVmid: row.vmid, requestedBy: row.requestedBy, actor: d.actor, actorTokenIssuers: d.tokenIssuers ?? [],
        actorPermissions: permissions, selfApproveAllowed: settings.selfApproveAllowed,
        ...(d.typedVmid !== undefined ? { typedVmid: d.typedVmid } : {}), ...(d.reason !== undefined ? { reason: d.reason } : {}),
      });
      if (refusal) {
        if (recordsRefusalsOf(permissions)) await deps.deletions.appendRefusal(requestId, refused(d.actor, d.action, `${refusal.detail}${via}`, d.nonce));
        return { ok: false, refusal };
      }
      const now = new Date();
      const written = await deps.deletions.transition(requestId, {
        state, authorizer: d.actor, authorizerTokenIssuers: [...(d.tokenIssuers ?? [])], decidedAt: now,
        ...(d.action === 'reject' ? { reason, reasonCode: 'rejected', finishedAt: now } : {}),
      }, entry(d.actor, d.action, 'ok', reason ? `${reason}${via}` : via.trim() || null, d.nonce), ['pending']);
      if (!written) {
        const current = await load(requestId);
        const lost: DecisionRefusal = { code: 'invalid_state', detail: `Deletion request is ${current.state}; only pending requests can be decided.` };
        if (recordsRefusalsOf(permissions)) await deps.deletions.appendRefusal(requestId, refused(d.actor, d.action, lost.detail, d.nonce));
        return { ok: false, refusal: lost };
      }
      return done;
    },

    async expireDeletion(requestId: number): Promise<{ expired: boolean }> {
      const row = await load(requestId);
      const reason = `The request expired at ${row.expiresAt.toISOString()} before anyone approved it; nothing was destroyed.`;
      const written = await deps.deletions.transition(requestId, { state: 'expired', finishedAt: new Date(), reason, reasonCode: 'expired' },
        entry(SYSTEM, 'expire', 'ok', reason), ['pending']);
      return { expired: Boolean(written) || row.state === 'expired' };
    },

    /**
     * When the execution activity itself was lost (worker killed or stopped past its grace, timeout): settle the
     * request by what happened in the cluster, never by guessing. `why` says how the execution stopped.
     */
    async recordDeletionFailure(requestId: number, why: string): Promise<ExecutionOutcome> {
      return settleInterrupted(await load(requestId), why);
    },

    /**
     * After approval: re-check the gates and the approver, confirm the guest still matches the snapshot, then register,
     * approve and execute the deletion in proxbox-api (proxbox-api.md §10 a, §6) and wait for the destroy task. The workflow runs this
     * once: any failure ends the request `failed` and nothing is retried, because a destroy is irreversible.
     */
    async executeDeletion(requestId: number): Promise<ExecutionOutcome> {
      const ctx = Context.current();
      const row = await load(requestId);
      if (row.state !== 'approved') return alreadyHandled(row);
      const before = await refusalNow(row);
      if (before) return finishFailed(requestId, before);
      const backend = await backendClient(deps);
      const endpoint = await deps.endpoints.get(row.endpointId);
      if (!backend || !endpoint) return finishFailed(requestId, { code: 'no_backend', message: MESSAGES.noBackend });
      const { client, baseUrl } = backend;
      const target = targetOf(row);
      const approver = row.authorizer!;
      const signal = ctx.cancellationSignal;
      let step: Step = 'read';
      let upid: string | null = null;
      let caps: Capabilities | null = null;
      let lease: LockLease | null = null;
      /** Every step heartbeats while it waits (a cancel or a worker shutdown reaches it) and its calls take the signal. */
      const during = <T>(name: Step, work: () => Promise<T>): Promise<T> => {
        step = name;
        return withHeartbeat({ requestId, step: name }, work);
      };
      try {
        caps = await during('read', () => capabilitiesOf(client, baseUrl, true, signal));
        const changed = snapshotMismatch(row, await during('read', () => locateGuest(client, caps!, endpoint.backendEndpointId, row, signal)));
        if (changed) return finishFailed(requestId, changed);
        // proxbox-api.md §10 (a): without the registration route there is no record id we may use; never guess one.
        if (!caps.registerDeletion) return finishFailed(requestId, backendCannotRegisterDeletion(row));

        // A destroy is a write like any other: one per VMID, at most APPLY_MAX_PER_NODE per node, across every job.
        try {
          lease = await acquireWriteSlot(deps.locks, { backendEndpointId: endpoint.backendEndpointId, node: row.node, vmid: row.vmid },
            deps.maxWritesPerNode ?? 4, slotHolder(requestId), { resume: false, maxWaitMs: SLOT_WAIT_MS });
        } catch (err) {
          if (signal.aborted) throw err;
          return finishFailed(requestId, {
            code: 'write_slot_busy',
            message: `VMID ${row.vmid} or node ${row.node} stayed busy with other writes for ${SLOT_WAIT_MS / 60_000} minutes: nothing was destroyed, and it is not retried.`,
          });
        }
        // Every check passed: the destroy sequence starts here, and only once.
        if (!(await deps.deletions.transition(requestId, { state: 'executing', executedAt: new Date() }, entry(approver, 'executing', 'ok'), ['approved']))) {
          return alreadyHandled(await load(requestId));
        }
        const record = await during('register', () => client.registerDeletion({
          ...target, endpoint_id: endpoint.backendEndpointId, requested_by: row.requestedBy, client_ref: row.workflowId,
        }, row.requestedBy, signal));
        await deps.deletions.transition(requestId, { backendRecordId: record.id },
          entry(SYSTEM, 'register_backend_record', 'ok', `proxbox-api deletion record ${record.id} (${record.state})`));
        if (record.state === 'pending') await during('approve', () => client.approveDeletion(record.id, target, approver, signal));
        else if (record.state !== 'approved') {
          return finishFailed(requestId, {
            code: 'backend_record_state',
            message: `proxbox-api deletion record ${record.id} is ${record.state}; refusing to execute it. Nothing was destroyed by this request.`,
          });
        }

        // The last moment before the irreversible call: settings may have changed while proxbox-api answered.
        const late = await during('approve', () => refusalNow(row));
        if (late) {
          await withdrawBackendRecord(client, requestId, record.id, approver, late.message);
          return finishFailed(requestId, late);
        }
        // The row must still be ours to execute, checked and marked in one statement: the mark tells a later reader
        // (after a lost worker) that the destroy may have been sent.
        if (!(await deps.deletions.transition(requestId, {}, entry(approver, DESTROY_SENDING, 'ok', `proxbox-api deletion record ${record.id}`), ['executing']))) {
          const now = await load(requestId);
          await withdrawBackendRecord(client, requestId, record.id, approver, `The request is ${now.state}; the destroy was not sent.`);
          return alreadyHandled(now);
        }
        const res = await during('execute', () => client.executeDeletion(record.id, target, approver, signal));
        upid = res.upid;
        await deps.deletions.transition(requestId, { proxmoxUpid: upid },
          entry(approver, 'destroy_requested', 'ok', upid ? `Proxmox task ${upid}` : 'proxbox-api accepted the destroy without a task id'));

        step = 'task';
        return await followDestroy(await load(requestId), client, caps, endpoint.backendEndpointId, null);
      } catch (err) {
        if (signal.aborted) throw err;
        return finishFailed(requestId, await failureOf(err, step, { client, caps, backendEndpointId: endpoint.backendEndpointId }, row), upid);
      } finally {
        await lease?.release();
      }
    },
  };

  /** Waits for a sent destroy to end (its task, or the guest leaving the cluster) and records what happened. */
  async function followDestroy(row: DeletionRow, client: ProxboxClient, caps: Capabilities, backendEndpointId: number,
    interrupted: string | null): Promise<ExecutionOutcome> {
    const upid = row.proxmoxUpid;
    const task = await waitForTask(client, caps, { backendEndpointId, node: row.node, upid, vmid: row.vmid, op: 'destroy' },
      { pollMs: deps.taskPollMs ?? 2000, deadlineMs: deps.taskDeadlineMs ?? 15 * 60_000, ...(deps.metrics ? { metrics: deps.metrics } : {}) });
    const prefix = interrupted ? `${interrupted} ` : '';
    if (task.done && !task.ok) {
      return finishFailed(row.id, { code: 'destroy_task_failed', message: `${prefix}The Proxmox destroy task failed: ${task.reason}` }, upid);
    }
    // A destroy still running (or a guest still listed) at the deadline has not happened yet: never report it done.
    if (!task.done && (interrupted || task.followable)) {
      return finishFailed(row.id, {
        code: 'unknown_outcome',
        message: `${prefix}The destroy was sent, and ${task.why}: check ${row.kind} ${row.vmid} in Proxmox before doing anything else; the destroy is not retried. ${confirmDestroyedStep(row)}`,
      }, upid);
    }
    const note = task.done ? (upid ? `destroy task finished ${task.warnings ?? 'OK'}` : 'the guest is no longer listed') : `destroy accepted; ${task.why}`;
    await deps.deletions.transition(row.id, { state: 'succeeded', finishedAt: new Date(), proxmoxUpid: upid, taggedPendingDeletion: !task.done },
      entry(SYSTEM, 'succeeded', 'ok', `${prefix}${note}`), ['executing']);
    return { state: 'succeeded', reason: null, reasonCode: null, upid };
  }

  /**
   * The execution stopped without an answer. What to record depends on how far it got: before the destroy was sent,
   * nothing was destroyed; after, the cluster decides, so follow the task (or watch the guest) to its end.
   */
  async function settleInterrupted(row: DeletionRow, why: string): Promise<ExecutionOutcome> {
    // The lost execution's slot, taken back: kept while its destroy is followed, given back once the request is settled.
    const lease = await reclaimWriteSlot(deps.locks, slotHolder(row.id));
    try {
      return await settleInterruptedHoldingSlot(row, why);
    } finally {
      await lease?.release();
    }
  }

  async function settleInterruptedHoldingSlot(row: DeletionRow, why: string): Promise<ExecutionOutcome> {
    if (row.state === 'succeeded' || row.state === 'failed') return alreadyHandled(row);
    if (row.state !== 'executing') {
      return finishFailed(row.id, { code: 'execution_interrupted', message: `${why} Nothing had been sent to proxbox-api: nothing was destroyed, and it is not retried.` });
    }
    const backend = await backendClient(deps);
    const endpoint = await deps.endpoints.get(row.endpointId);
    const sent = row.history.some((h) => h.action === DESTROY_SENDING);
    if (!sent) {
      if (backend && row.backendRecordId !== null) await withdrawBackendRecord(backend.client, row.id, row.backendRecordId, SYSTEM, 'the execution stopped before the destroy was sent');
      return finishFailed(row.id, { code: 'execution_interrupted', message: `${why} The destroy had not been sent: nothing was destroyed, and it is not retried.` });
    }
    if (!backend || !endpoint) {
      return finishFailed(row.id, { code: 'unknown_outcome', message: `${why} The destroy was sent, and the cluster cannot be read back (${MESSAGES.noBackend}): check ${row.kind} ${row.vmid} in Proxmox. ${confirmDestroyedStep(row)}` }, row.proxmoxUpid);
    }
    const caps = await capabilitiesOf(backend.client, backend.baseUrl, false, Context.current().cancellationSignal);
    return followDestroy(row, backend.client, caps, endpoint.backendEndpointId, why);
  }

  /** The execution activity found the request past `approved` (a second run): report it, never start it again. */
  async function alreadyHandled(row: DeletionRow): Promise<ExecutionOutcome> {
    if (row.state === 'succeeded') return { state: 'succeeded', reason: null, reasonCode: null, upid: row.proxmoxUpid };
    if (row.state === 'failed') return { state: 'failed', reason: row.reason ?? '', reasonCode: row.reasonCode ?? 'failed', upid: row.proxmoxUpid };
    if (row.state === 'executing') return settleInterrupted(row, 'An earlier run of the execution stopped without an answer.');
    return finishFailed(row.id, {
      code: 'execution_interrupted',
      message: `The execution was interrupted while the request was ${row.state}; it is not started again. Check ${row.kind} ${row.vmid} in Proxmox.`,
    });
  }

  /**
   * Tags or untags the guest: `done`, `not_written` (a gate refused, or a lasting failure; recorded in the history), or
   * `transient` (proxbox-api was down, slow or busy: recorded too, and a later try may succeed).
   */
  async function setTag(row: DeletionRow, remove: boolean, actor: string): Promise<'done' | 'not_written' | 'transient'> {
    const action = remove ? 'untag_pending_deletion' : 'tag_pending_deletion';
    const [endpoint, backend] = await Promise.all([deps.endpoints.get(row.endpointId), backendClient(deps)]);
    if (!backend || !endpoint) {
      await deps.deletions.appendHistory(row.id, entry(SYSTEM, action, 'refused', `not written: ${!backend ? MESSAGES.noBackend : 'the endpoint no longer exists'}`));
      return 'not_written';
    }
    try {
      // Even the untag, which our own gates let through, waits for proxbox-api's endpoint to be enabled and writable.
      const upstream = await upstreamGate(backend.config, endpoint.backendEndpointId);
      if (upstream) {
        await deps.deletions.appendHistory(row.id, entry(SYSTEM, action, 'refused', `not written: ${upstream.message} (proxbox-api endpoint ${endpoint.backendEndpointId})`));
        return 'not_written';
      }
      let target = targetOf(row);
      if (remove) {
        // The tag travels with the guest: untag it where it is now (proxbox-api does not check the node, proxbox-api.md §7).
        const guest = await backend.client.findGuest(endpoint.backendEndpointId, row.vmid, Context.current().cancellationSignal);
        if (!guest) {
          await deps.deletions.transition(row.id, { taggedPendingDeletion: false }, entry(SYSTEM, action, 'ok', 'the guest no longer exists; nothing to untag'));
          return 'done';
        }
        target = { vmid: row.vmid, node: guest.node ?? row.node, kind: guest.type === 'lxc' ? 'lxc' : 'qemu' };
      }
      const res = await backend.client.tag(endpoint.backendEndpointId, target, PENDING_DELETION_TAG, actor, remove, Context.current().cancellationSignal);
      await deps.deletions.transition(row.id, { taggedPendingDeletion: res.tags_after.includes(PENDING_DELETION_TAG) },
        entry(SYSTEM, action, 'ok', `tags now: ${res.tags_after.join(';') || '(none)'}`));
      return 'done';
    } catch (err) {
      await deps.deletions.appendHistory(row.id, entry(SYSTEM, action, 'error', err instanceof Error ? err.message : String(err)));
      return err instanceof UpstreamError && err.isTransient ? 'transient' : 'not_written';
    }
  }

  /**
   * A pending request whose tag failed for a passing reason is tried again by Temporal (the activity's retry policy),
   * a few times only: the workflow waits for the tag before it acts on a decision, so retries are bounded (about half
   * a minute of backoff), after which the request stays pending untagged, as its history says.
   */
  function retryTagSoon(row: DeletionRow): void {
    if (Context.current().info.attempt >= TAG_ATTEMPTS) return;
    throw ApplicationFailure.retryable(`tagging ${row.kind} ${row.vmid} ${PENDING_DELETION_TAG} failed for a passing reason; trying again`, 'tag_transient');
  }

  /** Best effort: a registered record we will not execute is rejected in proxbox-api too, so nobody executes it later. */
  async function withdrawBackendRecord(client: ProxboxClient, requestId: number, recordId: number, actor: string, why: string): Promise<void> {
    try {
      await client.rejectDeletion(recordId, why.slice(0, 255), actor);
      await deps.deletions.appendHistory(requestId, entry(SYSTEM, 'reject_backend_record', 'ok', `proxbox-api deletion record ${recordId} rejected`));
    } catch (err) {
      await deps.deletions.appendHistory(requestId, entry(SYSTEM, 'reject_backend_record', 'error', err instanceof Error ? err.message : String(err)));
    }
  }

  /** Words a failed proxbox-api call for the operator; a failed destroy call is checked against proxbox-api.md §8.1, never retried. */
  async function failureOf(err: unknown, step: Step, backend: { client: ProxboxClient; caps: Capabilities | null; backendEndpointId: number },
    row: DeletionRow): Promise<ExecutionRefusal> {
    const { client, caps, backendEndpointId } = backend;
    const message = err instanceof Error ? err.message : String(err);
    if (!(err instanceof ProxboxError)) return { code: 'execution_error', message: `${message}. Nothing is retried.` };
    if (step === 'execute' && err.kind === 'not_found') {
      return { code: 'backend_record_not_found', message: `${message}. proxbox-api holds no such deletion record; nothing was destroyed and nothing is retried.` };
    }
    if (caps && ((step === 'execute' && err.unknownOutcome) || step === 'task')) {
      // proxbox-api.md §6: a 5xx can follow a destroy that happened. Watch the guest for a short while (proxbox-api.md §8.1) to say which is likelier.
      const pollMs = deps.taskPollMs ?? 2000;
      const seen = await waitForTask(client, caps, { backendEndpointId, node: row.node, upid: null, vmid: row.vmid, op: 'destroy' },
        { pollMs, deadlineMs: 10 * pollMs })
        .then((t) => (t.done ? 'the guest is no longer listed, so the destroy most likely happened' : `the guest is still listed ${Math.round(10 * pollMs / 1000)} s later`))
        .catch(() => 'the guest could not be read back either');
      return {
        code: 'unknown_outcome',
        message: `${message}. The outcome is unknown (${seen}): check ${row.kind} ${row.vmid} in Proxmox before doing anything else; the destroy is not retried. ${confirmDestroyedStep(row)}`,
      };
    }
    return { code: `backend_${err.kind}`, message: `${message} (while trying to ${STEP_WORDS[step]}). Nothing was destroyed and nothing is retried.` };
  }
}

export type DeletionActivities = ReturnType<typeof createDeletionActivities>;
