import { ApplicationFailure, Context } from '@temporalio/activity';
import { toEpochMs, type Branch } from '../contracts/netbox';
import { ProxboxError, type ProxboxClient } from '../clients/proxbox';
import { PENDING_DELETION_TAG } from '../contracts/proxbox-api';
import { UpstreamError } from '../clients/errors';
import type { VmResult } from '../db/apply-jobs';
import { planChanges, type PlannedChange } from '../domain/change-plan';
import { clusterNamesFor, readBranchChanges, type BranchChanges } from '../services/branch-changes';
import { deletionExpiresAt } from '../domain/deletion-rules';
import { failureReasonOf } from '../domain/failure-reasons';
import { firstClosedGate, type ClosedGate } from '../domain/gates';
import type { ResultStatus } from '../domain/job-state';
import { routeEndpoint } from '../domain/routing';
import { driftOf, tagSet } from '../domain/drift';
import { runBounded } from '../domain/bounded';
import { applyRunIdFromMs, deletionRequestWorkflowId } from '../domain/run-identity';
import type { IntentSettings } from '../domain/settings';
import { backendClient, capabilitiesOf, clientFor, type ActivityDeps } from './deps';
import { readGateFacts } from '../db/gate-facts';
import type { BackendConfig } from '../db/endpoints';
import { withHeartbeat } from './heartbeat';
import { freshReads } from '../infra/batching';
import { waitForTask } from './proxmox-tasks';
import { acquireWriteSlot } from './write-slots';
import type { ApplyContext, ApplyPlan, ApplyWorkflowInput, DeletionStarted, ItemOutcome, WorkItem } from './types';

const optedIn = (b: Branch) => b.custom_fields.apply_to_proxmox === true;
const destroyConfirmed = (b: Branch) => b.custom_fields.apply_destroy_confirmed === true;

/** A NetBox or proxbox-api read failed: keep retrying (Temporal owns the policy) and say why on the job. */
async function upstreamFailure(deps: ActivityDeps, jobId: string, err: unknown): Promise<never> {
  if (err instanceof UpstreamError) {
    const attempt = Context.current().info.attempt;
    await deps.jobs.setError(jobId, `${err.message} (attempt ${attempt}; retrying)`);
    throw ApplicationFailure.create({ message: err.message, type: `${err.system}:${err.kind}`, nonRetryable: false });
  }
  throw err;
}

function resultOf(item: Pick<WorkItem, 'key' | 'vmid' | 'netboxId' | 'name' | 'op' | 'kind'>, status: ResultStatus, reason: string | null, message: string, extra: Partial<VmResult> = {}): VmResult {
  return {
    key: item.key, vmid: item.vmid, netboxId: item.netboxId, name: item.name, op: item.op, kind: item.kind,
    status, reason, message, proxmoxUpid: null, deletionRequestId: null, ...extra,
  };
}

export function createApplyActivities(deps: ActivityDeps) {
  // Concurrent writes of one worker share their re-reads of the gates, each still reading after it asked.
  const currentBranch = freshReads((id: number) => deps.netbox.branch(id));
  const currentGateFacts = freshReads(
    (k: { endpointId: number; username: string | null }) => readGateFacts(deps.db, k.endpointId, k.username, deps.endpoints),
    (k) => `${k.endpointId}:${k.username ?? ''}`,
  );

  async function record(jobId: string, result: VmResult): Promise<ItemOutcome> {
    await deps.jobs.recordOutcome(jobId, result);
    return { key: result.key, status: result.status, message: result.message };
  }

  /** Gates as they stand right now, for one item: re-read from PostgreSQL (and the branch from NetBox). */
  async function gateNow(item: Pick<WorkItem, 'op' | 'kind' | 'endpointId'>, username: string | null, branch: Branch): Promise<{ closed: ClosedGate | null; backend: BackendConfig | null }> {
    const facts = await currentGateFacts({ endpointId: item.endpointId, username });
    const closed = firstClosedGate({
      settings: facts.settings, optedIn: optedIn(branch), destroyConfirmed: destroyConfirmed(branch), backendConfigured: Boolean(facts.backend),
      endpoint: facts.endpoint, permissions: facts.permissions, op: item.op, kind: item.kind,
    });
    return { closed, backend: facts.backend };
  }

  async function branchOrRetry(jobId: string, branchId: number): Promise<Branch> {
    try {
      return await currentBranch(branchId);
    } catch (err) {
      return upstreamFailure(deps, jobId, err);
    }
  }

  return {
    /** Reads the merged branch and its ChangeDiffs, decides what each diff means, and records what will not run. */
    async loadApplyPlan(input: ApplyWorkflowInput): Promise<ApplyPlan> {
      const { jobId } = input;
      const branch = await branchOrRetry(jobId, input.branchId);
      const abort = abortReason(branch, input);
      if (abort) {
        await deps.jobs.appendEvent(jobId, 'log', { level: 'error', message: abort }, 'abort');
        return { branchName: branch.name, abort, items: [], recorded: 0 };
      }
      let changes: BranchChanges;
      try {
        changes = await readBranchChanges(deps.netbox, branch.id);
      } catch (err) {
        return upstreamFailure(deps, jobId, err);
      }
      await deps.jobs.setError(jobId, null);
      const [settings, endpoints, backend] = await Promise.all([deps.settings.get(), deps.endpoints.list(), deps.endpoints.getBackend()]);
      const permissions = input.username ? await deps.users.permissionsOf(input.username) : [];
      const planned = planChanges(changes.vmDiffs, changes.diskDiffs, changes.nicDiffs, changes.lookups, { warnPlaintextPassword: settings.warnPlaintextPassword });
      const clusterNames = await clusterNamesFor(deps.netbox, planned, endpoints).catch((err: unknown) => upstreamFailure(deps, jobId, err));

      const items: WorkItem[] = [];
      let recorded = 0;
      for (const p of planned) {
        const endpoint = routeEndpoint(endpoints, { id: p.clusterId, name: p.clusterId !== null ? clusterNames.get(p.clusterId) ?? null : null });
        const closed = firstClosedGate({
          settings, optedIn: optedIn(branch), destroyConfirmed: destroyConfirmed(branch), backendConfigured: Boolean(backend),
          endpoint, permissions, op: p.op, kind: p.kind,
        });
        const verdict = immediateResult(p, closed);
        if (verdict) {
          await record(jobId, verdict);
          recorded += 1;
          continue;
        }
        items.push({
          key: p.key, changeDiffId: p.changeDiffId, netboxId: p.netboxId, name: p.name, op: p.op, kind: p.kind,
          vmid: p.vmid!, node: p.node!, clusterId: p.clusterId, endpointId: endpoint!.id, backendEndpointId: endpoint!.backendEndpointId,
          payload: p.payload, deletion: p.deletion,
        });
      }
      await deps.jobs.markRunning(jobId, input.username);
      await deps.jobs.appendEvent(jobId, 'plan_summary', summarise(planned, items, settings), 'plan');
      return { branchName: branch.name, abort: null, items, recorded };
    },

    /** One create or update against proxbox-api, writing only while it holds the guest's write slot. */
    async applyGuestChange(item: WorkItem, ctx: ApplyContext): Promise<ItemOutcome> {
      const lease = await acquireWriteSlot(deps.locks, item, deps.maxWritesPerNode ?? 4);
      try {
        return await applyHoldingSlot(item, ctx);
      } finally {
        await lease.release();
      }
    },

    /** A DELETE becomes a pending DeletionRequest; the merge itself never destroys anything. */
    async requestDeletion(item: WorkItem, ctx: ApplyContext & { schemaId: string; mergedTimeMs: number; branchName: string }): Promise<DeletionStarted | null> {
      const branch = await branchOrRetry(ctx.jobId, ctx.branchId);
      const { closed } = await gateNow(item, ctx.username, branch);
      if (closed || !item.deletion) {
        await record(ctx.jobId, resultOf(item, 'blocked', closed?.reason ?? 'no_delete_target', closed?.message ?? 'the delete target could not be read from the diff'));
        return null;
      }
      const settings = await deps.settings.get();
      const workflowId = deletionRequestWorkflowId(applyRunIdFromMs(ctx.schemaId, ctx.mergedTimeMs), item.netboxId);
      const row = await deps.deletions.ensure({
        workflowId, vmid: item.vmid, node: item.node, kind: item.kind, name: item.name, netboxId: item.netboxId,
        changeDiffId: item.changeDiffId, clusterKey: item.clusterId !== null ? String(item.clusterId) : null,
        endpointId: item.endpointId, branchId: ctx.branchId, branchSchemaId: ctx.schemaId, branchName: ctx.branchName,
        applyJobId: ctx.jobId, requestedBy: ctx.username ?? 'unknown',
        expiresAt: deletionExpiresAt(new Date(), settings.deletionRequestTtlDays, deps.deletionTtlOverrideMs),
        metadataSnapshot: item.deletion as unknown as Record<string, unknown>,
      }, ctx.username ?? 'unknown');
      await record(ctx.jobId, resultOf(item, 'deletion_requested', null,
        `DeletionRequest ${row.id} is pending: a different user holding authorize_deletion_request must approve it`, { deletionRequestId: row.id }));
      return { requestId: row.id, workflowId: row.workflowId, expiresAtMs: row.expiresAt.getTime() };
    },

    /** An item whose activity gave up (retries exhausted): its result says why, the rest of the run goes on. */
    async recordItemFailure(item: WorkItem, ctx: ApplyContext, message: string): Promise<ItemOutcome> {
      return record(ctx.jobId, resultOf(item, 'failed', 'activity_failed', message));
    },

    /**
     * Reads back every guest this run changed and records per-field drift on the job (empty when everything
     * converged). Reported, never remediated.
     */
    async verifyDrift(items: WorkItem[], ctx: ApplyContext): Promise<{ checked: number; drifted: number; unverified: number }> {
      const backend = await backendClient(deps);
      const drift: Record<string, unknown> = {};
      let checked = 0;
      if (backend) {
        const caps = await capabilitiesOf(backend.client, backend.baseUrl);
        const names = new Map<number, string>();
        const endpointName = async (id: number) => {
          if (!names.has(id)) names.set(id, (await backend.client.endpoint(id)).name);
          return names.get(id)!;
        };
        await runBounded(items.filter((i) => i.payload), 8, async (item) => {
          Context.current().heartbeat(item.key);
          try {
            if (item.kind === 'lxc' && !caps.lxcConfigProxy) throw new Error('proxbox-api offers no way to read an LXC config');
            const config = await backend.client.guestConfig(item.backendEndpointId, { node: item.node, kind: item.kind, vmid: item.vmid, endpointName: await endpointName(item.backendEndpointId) });
            checked += 1;
            const fields = driftOf(item.kind, item.payload!, config);
            if (fields.length) drift[item.key] = { vmid: item.vmid, fields };
          } catch (err) {
            drift[item.key] = { vmid: item.vmid, unverified: err instanceof Error ? err.message : String(err) };
          }
        });
      }
      await deps.jobs.setDrift(ctx.jobId, drift);
      const drifted = Object.values(drift).filter((d) => (d as { fields?: unknown }).fields).length;
      const unverified = Object.keys(drift).length - drifted;
      await deps.jobs.appendEvent(ctx.jobId, 'log', {
        level: drifted || unverified ? 'warn' : 'info',
        message: `Drift check: ${checked} guest(s) read back, ${drifted} with drift, ${unverified} not verifiable`,
      }, 'drift');
      return { checked, drifted, unverified };
    },

    async finishApplyJob(args: { jobId: string; error?: string }): Promise<{ state: string }> {
      const job = await deps.jobs.finish(args.jobId, { cancelled: false, ...(args.error ? { error: args.error } : {}) });
      await deps.jobs.appendEvent(args.jobId, 'complete', { state: job.state, error: job.error }, 'complete');
      return { state: job.state };
    },

    /** Cancel keeps what was applied, adds the `_cancelled` entry and lists the deletion requests that stay pending. */
    async recordApplyCancellation(args: { jobId: string; by: string | null }): Promise<{ pendingDeletionRequestIds: number[] }> {
      const pending = (await deps.deletions.pendingByApplyJob(args.jobId)).map((d) => d.id);
      await deps.jobs.cancel(args.jobId, args.by, pending);
      return { pendingDeletionRequestIds: pending };
    },
  };

  /** One create or update, with every gate re-checked right before the write (the caller holds the write slot). */
  async function applyHoldingSlot(item: WorkItem, ctx: ApplyContext): Promise<ItemOutcome> {
    const activity = Context.current();
    const branch = await branchOrRetry(ctx.jobId, ctx.branchId);
    const { closed, backend: config } = await gateNow(item, ctx.username, branch);
    if (closed) return record(ctx.jobId, resultOf(item, 'blocked', closed.reason, closed.message));
    if (!config || !item.payload) return record(ctx.jobId, resultOf(item, 'blocked', 'no_backend', 'No FastAPIEndpoint is configured'));
    const { client, baseUrl } = clientFor(config);
    await deps.jobs.appendEvent(ctx.jobId, 'dispatch', { key: item.key, op: item.op, kind: item.kind, vmid: item.vmid, node: item.node, name: item.name }, `dispatch:${item.key}`);

    try {
      if (item.op === 'create' && activity.info.attempt > 1) {
        const adopted = await checkBeforeCreate(item, client);
        if (adopted) return record(ctx.jobId, adopted);
      }
      const payload = item.op === 'update' ? await keepPendingDeletionTag(item, client) : item.payload;
      const response = await withHeartbeat({ key: item.key, phase: 'apply' }, () => client.apply(item.backendEndpointId, {
        run_uuid: `${ctx.runUuid}:${item.netboxId}`,
        branch_id: ctx.branchId,
        actor: ctx.username,
        diffs: [{ op: item.op, kind: item.kind, netbox_id: item.netboxId, payload }],
      }, activity.cancellationSignal));
      const r = response.results[0];
      if (!r) return record(ctx.jobId, resultOf(item, 'failed', 'empty_response', 'proxbox-api returned no result for this diff'));
      if (r.status === 'skipped') return record(ctx.jobId, resultOf(item, 'skipped', r.reason, r.message));
      if (r.status === 'not_implemented') return record(ctx.jobId, resultOf(item, 'not_implemented', r.reason, r.message));
      if (r.status === 'failed') return record(ctx.jobId, resultOf(item, 'failed', r.reason ?? failureReasonOf(r.message), r.message));
      const caps = await capabilitiesOf(client, baseUrl);
      const task = await waitForTask(client, caps, { backendEndpointId: item.backendEndpointId, node: item.node, upid: r.proxmox_upid, vmid: item.vmid, op: item.op as 'create' | 'update' },
        { pollMs: deps.taskPollMs ?? 2000, deadlineMs: deps.taskDeadlineMs ?? 15 * 60_000 });
      const upid = { proxmoxUpid: r.proxmox_upid };
      if (!task.done) return record(ctx.jobId, resultOf(item, 'accepted', null, r.message || `accepted by proxbox-api (${task.why})`, upid));
      if (!task.ok) return record(ctx.jobId, resultOf(item, 'failed', 'proxmox_task_failed', `Proxmox task failed: ${task.reason}`, upid));
      return record(ctx.jobId, resultOf(item, 'succeeded', null, task.warnings ? `${r.message} (${task.warnings})`.trim() : r.message, upid));
    } catch (err) {
      return handleApplyError(err, item, ctx);
    }
  }

  async function handleApplyError(err: unknown, item: WorkItem, ctx: ApplyContext): Promise<ItemOutcome> {
    // Report a cancel as a cancel (the signal's reason is Temporal's CancelledFailure), not as a failed write.
    const signal = Context.current().cancellationSignal;
    if (signal.aborted) throw signal.reason;
    if (!(err instanceof ProxboxError)) throw err;
    const c = err.classified;
    if (c?.shape === 'E3') return record(ctx.jobId, resultOf(item, 'blocked', c.reason, c.reason === 'writes_disabled_for_endpoint' ? 'writes_disabled_for_endpoint' : err.message));
    if (err.unknownOutcome || err.kind === 'throttled' || (err.kind === 'unreachable' && item.op === 'update')) {
      // Unknown outcome: retry; a create's next attempt reads state before resending (check-before-create).
      throw ApplicationFailure.create({ message: err.message, type: `proxbox-api:${err.kind}`, nonRetryable: false });
    }
    return record(ctx.jobId, resultOf(item, 'failed', err.kind, err.message));
  }
}

export type ApplyActivities = ReturnType<typeof createApplyActivities>;

function abortReason(branch: Branch, input: ApplyWorkflowInput): string | null {
  if (branch.status.value !== 'merged' && branch.status.value !== 'archived') return `Branch ${branch.name} is ${branch.status.value}, not merged: nothing is applied`;
  if (branch.merged_time === null || toEpochMs(branch.merged_time) !== input.mergedTimeMs) return `Branch ${branch.name} was reverted or merged again since this merge: this run applies nothing`;
  if (branch.schema_id !== input.schemaId) return `Branch ${branch.id} has schema ${branch.schema_id}, expected ${input.schemaId}`;
  if (!optedIn(branch)) return 'Branch is not opted in';
  return null;
}

function immediateResult(p: PlannedChange, closed: ClosedGate | null): VmResult | null {
  const item = { key: p.key, vmid: p.vmid, netboxId: p.netboxId, name: p.name, op: p.op, kind: p.kind };
  const as = (status: ResultStatus, reason: string | null, message: string) => resultOf(item as WorkItem, status, reason, message);
  if (p.vanished) return as('skipped', 'vanished_in_branch', 'Created and deleted inside the branch: nothing reached main, nothing to apply');
  const blocked = p.findings.find((f) => f.severity === 'blocked');
  if (blocked) return as('blocked', blocked.reason, blocked.message);
  if (closed) return as('blocked', closed.reason, closed.message);
  if (p.noop) return as('skipped', 'no_op', 'No change to apply: the desired state equals the pre-change data');
  return null;
}

function summarise(planned: PlannedChange[], items: WorkItem[], settings: IntentSettings) {
  const count = (op: string) => planned.filter((p) => p.op === op).length;
  return {
    total: planned.length, dispatched: items.length,
    creates: count('create'), updates: count('update'), deletes: count('delete'),
    enabled: settings.netboxToProxmoxEnabled,
    warnings: planned.flatMap((p) => p.findings.filter((f) => f.severity === 'warning').map((f) => ({ key: p.key, ...f }))),
  };
}

/**
 * A tags update replaces every Proxmox tag (contract §5.5); a guest marked for deletion keeps its mark.
 */
async function keepPendingDeletionTag(item: WorkItem, client: ProxboxClient): Promise<WorkItem['payload']> {
  const tags = item.payload?.tags;
  if (!item.payload || tags === undefined) return item.payload;
  const guest = await client.findGuest(item.backendEndpointId, item.vmid, Context.current().cancellationSignal);
  const live = tagSet(guest?.tags ?? null);
  if (!live.includes(PENDING_DELETION_TAG) || tags.includes(PENDING_DELETION_TAG)) return item.payload;
  return { ...item.payload, tags: [...tags, PENDING_DELETION_TAG] };
}

/**
 * §8.5 after an unknown outcome: an absent guest may be created again; one that carries our marker (name, node,
 * kind) is adopted; anything else is a VMID collision that must not be retried.
 */
async function checkBeforeCreate(item: WorkItem, client: ProxboxClient): Promise<VmResult | null> {
  const guest = await client.findGuest(item.backendEndpointId, item.vmid, Context.current().cancellationSignal);
  if (!guest) return null;
  if (guest.name === item.name && guest.node === item.node && guest.type === item.kind) {
    return resultOf(item, 'accepted', 'adopted', `Guest ${item.vmid} already exists with our name, node and kind after an unknown outcome: adopted, not created twice`);
  }
  return resultOf(item, 'failed', 'vmid_in_use',
    `VMID ${item.vmid} is in use by ${guest.type} '${guest.name ?? '?'}' on ${guest.node ?? '?'}: not ours, so nothing was sent`);
}
