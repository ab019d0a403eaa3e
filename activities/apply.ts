import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { toEpochMs, type Branch } from '../contracts/netbox';
import { ProxboxError, capabilitiesOf, type Capabilities, type ProxboxClient } from '../clients/proxbox';
import { PENDING_DELETION_TAG } from '../contracts/proxbox-api';
import { UpstreamError } from '../clients/errors';
import type { JobRow, VmResult } from '../db/apply-jobs';
import { planPage, type Finding, type PlannedChange } from '../domain/change-planner';
import { clusterNamesFor, indexBranchChanges, type BranchChangeReader } from '../clients/netbox-branch-changes';
import { deletionExpiresAt } from '../domain/deletion-rules';
import { failureReasonOf } from '../domain/failure-reasons';
import { firstClosedGate, type ClosedGate } from '../domain/gates';
import { reportedReason, type ResultReason } from '../domain/result-reasons';
import type { ResultStatus } from '../domain/job-state';
import { routeEndpoint } from '../domain/routing';
import { driftOf, tagSet } from '../domain/drift';
import { nicsToSend } from '../domain/nics';
import { runBounded } from '../domain/bounded';
import { applyRunIdFromMs, deletionRequestWorkflowId } from '../domain/run-identity';
import type { IntentSettings } from '../domain/settings';
import { NO_METRICS, backendClient, clientFor, type ActivityDeps } from './deps';
import { readGateFacts } from '../db/gate-facts';
import type { BackendConfig } from '../db/endpoints';
import { withHeartbeat } from './heartbeat';
import { freshReads } from '../infra/batching';
import { waitForTask, type TaskOutcome } from './proxmox-tasks';
import { createUpstreamGate } from './upstream-gate';
import { acquireWriteSlot } from './write-slots';
import type { ApplyContext, ApplyWorkList, ApplyRun, ApplyWorkflowInput, DeletionStarted, ItemOutcome, ResumedApplyRun, UnsettledItem, WorkItem, WorkPage } from '../workflows/types';

/** Enough of the smallest VMIDs for the ProxboxVmids search attribute (2 KiB: at most ~450 values). */
const SEARCH_VMIDS = 500;
/** Items read from PostgreSQL at once by the activities that walk the whole work list (drift, the cancel sweep). */
const SWEEP_PAGE = 500;
/** The largest page a run may ask for, whatever its input says. */
const MAX_PAGE = 1000;

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

function resultOf(item: Pick<WorkItem, 'key' | 'vmid' | 'netboxId' | 'name' | 'op' | 'kind'>, status: ResultStatus, reason: ResultReason | null, message: string, extra: Partial<VmResult> = {}): VmResult {
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
  const upstreamGate = createUpstreamGate(deps.onUpstreamError);
  const metrics = deps.metrics ?? NO_METRICS;

  /** Whether the calling run is the one that claimed this job (closing paths may run before the claim succeeded). */
  async function ownsJob(jobId: string, firstRunId: string): Promise<boolean> {
    const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
    const claim = await deps.jobs.claimForRun(jobId, workflowId, firstRunId);
    if ('job' in claim) return true;
    log.warn(`Run ${workflowId} may not close apply job ${jobId}: ${claim.refused}`);
    return false;
  }

  async function record(jobId: string, result: VmResult): Promise<ItemOutcome> {
    await deps.jobs.recordOutcome(jobId, result);
    const line = `${result.op} ${result.kind} ${result.vmid} ${result.name}: ${result.status}${result.reason ? ` (${result.reason})` : ''}`;
    const fields = { jobId, vmid: result.vmid, netboxId: result.netboxId, status: result.status, ...(result.reason ? { reason: result.reason } : {}) };
    if (result.status === 'failed' || result.status === 'unknown') log.warn(line, { ...fields, message: result.message });
    else log.info(line, fields);
    return { key: result.key, status: result.status, message: result.message };
  }

  /**
   * Gates as they stand right now, for one item: re-read from PostgreSQL, the branch from NetBox, and proxbox-api's
   * own endpoint gate.
   */
  async function gateNow(jobId: string, item: Pick<WorkItem, 'op' | 'kind' | 'endpointId' | 'backendEndpointId'>, username: string | null, branch: Branch): Promise<{ closed: ClosedGate | null; backend: BackendConfig | null }> {
    const facts = await currentGateFacts({ endpointId: item.endpointId, username });
    const closed = firstClosedGate({
      settings: facts.settings, optedIn: optedIn(branch), destroyConfirmed: destroyConfirmed(branch), backendConfigured: Boolean(facts.backend),
      endpoint: facts.endpoint, permissions: facts.permissions, op: item.op, kind: item.kind,
    });
    if (closed || !facts.backend) return { closed, backend: facts.backend };
    try {
      return { closed: await upstreamGate(facts.backend, item.backendEndpointId), backend: facts.backend };
    } catch (err) {
      return upstreamFailure(deps, jobId, err);
    }
  }

  /** Claims the job for the calling run; a refusal is logged and noted on the job's live log when the job exists. */
  async function claimOrRefuse(jobId: string, firstRunId: string): Promise<{ job: JobRow } | { refused: string }> {
    const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
    const claim = await deps.jobs.claimForRun(jobId, workflowId, firstRunId);
    if ('job' in claim) return claim;
    const refused = `Run ${workflowId} refused: ${claim.refused}. Nothing is applied.`;
    log.warn(refused);
    await deps.jobs.recordForeignRun(jobId, refused);
    return { refused };
  }

  /** The merge a run applies, from its job row, and the worker's own limits. */
  function runOf(job: JobRow): ApplyRun {
    return {
      jobId: job.id, branchId: job.branchId, schemaId: job.branchSchemaId, mergedTimeMs: job.mergedAt.getTime(), username: job.username,
      maxConcurrency: deps.maxConcurrency ?? 16, ...(deps.itemsPerRun !== undefined ? { itemsPerRun: deps.itemsPerRun } : {}),
    };
  }

  async function branchOrRetry(jobId: string, branchId: number): Promise<Branch> {
    try {
      return await currentBranch(branchId);
    } catch (err) {
      return upstreamFailure(deps, jobId, err);
    }
  }

  return {
    /**
     * Claims the job for this run, then reads the merged branch and its ChangeDiffs, decides what each diff means, and
     * records what will not run. Who merged and which merge come from the job row, never from the workflow's input.
     */
    async loadApplyPlan(input: Pick<ApplyWorkflowInput, 'jobId'>, firstRunId: string): Promise<ApplyWorkList> {
      const claim = await claimOrRefuse(String(input.jobId), firstRunId);
      if ('refused' in claim) return { run: null, branchName: '', abort: claim.refused, planned: 0, recorded: 0, vmids: [] };
      const { job } = claim;
      const jobId = job.id;
      const run = runOf(job);
      const branch = await branchOrRetry(jobId, run.branchId);
      const abort = abortReason(branch, run);
      if (abort) {
        await deps.jobs.appendEvent(jobId, 'log', { level: 'error', message: abort }, 'abort');
        return { run, branchName: branch.name, abort, planned: 0, recorded: 0, vmids: [] };
      }
      let reader: BranchChangeReader;
      try {
        reader = await indexBranchChanges(deps.netbox, branch);
      } catch (err) {
        return upstreamFailure(deps, jobId, err);
      }
      await deps.jobs.setError(jobId, null);
      const [settings, endpoints, backend] = await Promise.all([deps.settings.get(), deps.endpoints.list(), deps.endpoints.getBackend()]);
      const permissions = run.username ? await deps.users.permissionsOf(run.username) : [];
      const clusterNames = await clusterNamesFor(deps.netbox, reader.clusterIds, endpoints).catch((err: unknown) => upstreamFailure(deps, jobId, err));
      const endpointOf = (clusterId: number | null) => routeEndpoint(endpoints, { id: clusterId, name: clusterId !== null ? clusterNames.get(clusterId) ?? null : null });
      const opts = { warnPlaintextPassword: settings.warnPlaintextPassword, endpointOf };

      // A page at a time: planned, its verdicts recorded and its work items written before the next page is read.
      await deps.workItems.clear(jobId);
      const summary = emptySummary(settings);
      let written = 0;
      let recorded = 0;
      let vmids: number[] = [];
      try {
        for await (const { page, lookups } of reader.pages()) {
          const planned = planPage(page, lookups, opts, reader.index);
          const items: WorkItem[] = [];
          const verdicts: VmResult[] = [];
          for (const p of planned) {
            const endpoint = endpointOf(p.clusterId);
            const closed = firstClosedGate({
              settings, optedIn: optedIn(branch), destroyConfirmed: destroyConfirmed(branch), backendConfigured: Boolean(backend),
              endpoint, permissions, op: p.op, kind: p.kind,
            });
            const verdict = immediateResult(p, closed);
            if (verdict) {
              verdicts.push(verdict);
              continue;
            }
            items.push({
              key: p.key, changeDiffId: p.changeDiffId, netboxId: p.netboxId, name: p.name, op: p.op, kind: p.kind,
              vmid: p.vmid!, node: p.node!, clusterId: p.clusterId, endpointId: endpoint!.id, backendEndpointId: endpoint!.backendEndpointId,
              payload: p.payload, deletion: p.deletion,
            });
          }
          // Concurrent records share one statement (group commit), in this order.
          await Promise.all(verdicts.map((v) => record(jobId, v)));
          await deps.workItems.append(jobId, written, items);
          recorded += verdicts.length;
          written += items.length;
          addToSummary(summary, planned, items.length);
          vmids = smallestVmids(vmids, items);
        }
      } catch (err) {
        return upstreamFailure(deps, jobId, err);
      }
      await deps.jobs.markRunning(jobId);
      await deps.jobs.appendEvent(jobId, 'plan_summary', summary, 'plan');
      return { run, branchName: branch.name, abort: null, planned: written, recorded, vmids };
    },

    /**
     * A run that continues an apply (continue-as-new) claims the job again: the chain keeps its first run id, so the
     * claim of the first run holds, and a run of any other chain is refused. Nothing is planned again.
     */
    async resumeApplyRun(input: Pick<ApplyWorkflowInput, 'jobId'>, firstRunId: string): Promise<ResumedApplyRun> {
      const claim = await claimOrRefuse(String(input.jobId), firstRunId);
      if ('refused' in claim) return { run: null, branchName: '', refused: claim.refused };
      return { run: runOf(claim.job), branchName: claim.job.branchName, refused: null };
    },

    /** The next page of the job's work list after position `afterSeq`. */
    async nextApplyItems(args: { jobId: string; afterSeq: number; limit: number }): Promise<WorkPage> {
      return { items: await deps.workItems.page<WorkItem>(args.jobId, args.afterSeq, Math.min(Math.max(0, args.limit), MAX_PAGE)) };
    },

    /** One create or update against proxbox-api, writing only while it holds the guest's write slot. */
    async applyGuestChange(item: WorkItem, ctx: ApplyContext): Promise<ItemOutcome> {
      // The holder is the job's item, whichever attempt or worker runs it.
      const lease = await acquireWriteSlot(deps.locks, item, deps.maxWritesPerNode ?? 4, `apply-job:${ctx.jobId}:${item.key}`);
      const started = performance.now();
      let status = 'error';
      try {
        const outcome = await applyHoldingSlot(item, ctx);
        status = outcome.status;
        return outcome;
      } finally {
        metrics.vmWrite({ op: item.op, kind: item.kind, status }, (performance.now() - started) / 1000);
        await lease.release();
      }
    },

    /** A DELETE becomes a pending DeletionRequest; the merge itself never destroys anything. */
    async requestDeletion(item: WorkItem, ctx: ApplyContext & { schemaId: string; mergedTimeMs: number; branchName: string }): Promise<DeletionStarted | null> {
      const branch = await branchOrRetry(ctx.jobId, ctx.branchId);
      const { closed } = await gateNow(ctx.jobId, item, ctx.username, branch);
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
        expiresAt: deletionExpiresAt(new Date(), settings.deletionRequestTtlDays),
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
    async verifyDrift(ctx: ApplyContext): Promise<{ checked: number; drifted: number; unverified: number }> {
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
        // The work list is read a page at a time: memory stays the same whatever the size of the branch.
        for (let afterSeq = 0; ;) {
          const page = await deps.workItems.changedPage<WorkItem>(ctx.jobId, afterSeq, SWEEP_PAGE);
          if (page.length === 0) break;
          afterSeq = page.at(-1)!.seq;
          await runBounded(page.map((p) => p.item).filter((i) => i.payload), 8, async (item) => {
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

    /** Closes the job by the documented rule; a run that failed as a whole (`runFailed`) is `failed` whatever it did. */
    async finishApplyJob(args: { jobId: string; firstRunId: string; error?: string; runFailed?: boolean }): Promise<{ state: string }> {
      if (!(await ownsJob(args.jobId, args.firstRunId))) return { state: 'refused' };
      const job = await deps.jobs.finish(args.jobId, { cancelled: false, runFailed: args.runFailed === true, ...(args.error ? { error: args.error } : {}) });
      await deps.jobs.appendEvent(args.jobId, 'complete', { state: job.state, error: job.error }, 'complete');
      return { state: job.state };
    },

    /**
     * After a cancel, once nothing but `abandoned` is in flight: writes a forced cancel stopped waiting for are unknown
     * outcomes, and every other item of the work list without a result was never sent to proxbox-api: `cancelled`.
     * Neither replaces a result that is already there (a write that finished says what happened).
     */
    async recordUnsettledItems(args: { jobId: string; by: string | null; abandoned: UnsettledItem[] }): Promise<void> {
      const who = args.by ? ` by ${args.by}` : '';
      await deps.jobs.recordUnsettled(args.jobId, args.abandoned.map((i) => resultOf(i, 'unknown', 'cancel_forced',
        `The run was force-cancelled${who} while this ${i.op} was in flight in proxbox-api: its outcome is unknown. Check ${i.kind} ${i.vmid} on ${i.node} in Proxmox.`)));
      for (let afterSeq = 0; ;) {
        const page = await deps.workItems.unsettledPage(args.jobId, afterSeq, SWEEP_PAGE);
        if (page.length === 0) break;
        afterSeq = page.at(-1)!.seq;
        Context.current().heartbeat(afterSeq);
        await deps.jobs.recordUnsettled(args.jobId, page.map((i) => resultOf(i, 'cancelled', 'cancelled', `Not sent to proxbox-api: the run was cancelled${who} first`)));
      }
    },

    /** Cancel keeps what was applied, adds the `_cancelled` entry and lists the deletion requests that stay pending. */
    async recordApplyCancellation(args: { jobId: string; firstRunId: string; by: string | null }): Promise<{ pendingDeletionRequestIds: number[] }> {
      if (!(await ownsJob(args.jobId, args.firstRunId))) return { pendingDeletionRequestIds: [] };
      const pending = (await deps.deletions.pendingByApplyJob(args.jobId)).map((d) => d.id);
      await deps.jobs.cancel(args.jobId, args.by, pending);
      return { pendingDeletionRequestIds: pending };
    },
  };

  /**
   * One create or update, with every gate re-checked right before the write (the caller holds the write slot).
   * A cancel is honoured until the write is sent; from then on the write and its Proxmox task are followed to their
   * end, so the result recorded is what Proxmox holds.
   */
  async function applyHoldingSlot(item: WorkItem, ctx: ApplyContext): Promise<ItemOutcome> {
    const activity = Context.current();
    const branch = await branchOrRetry(ctx.jobId, ctx.branchId);
    const { closed, backend: config } = await gateNow(ctx.jobId, item, ctx.username, branch);
    if (closed) return record(ctx.jobId, resultOf(item, 'blocked', closed.reason, closed.message));
    if (!config || !item.payload) return record(ctx.jobId, resultOf(item, 'blocked', 'no_backend', 'No FastAPIEndpoint is configured'));
    const { client, baseUrl } = clientFor(config, deps.onUpstreamError);

    try {
      const caps = await capabilitiesOf(client, baseUrl);
      if (item.op === 'create' && activity.info.attempt > 1) {
        const resumed = await resumeCreate(item, client, caps);
        if (resumed) return record(ctx.jobId, resumed);
      }
      const payload = item.op === 'update' ? await onlyChangedNics(item, await keepPendingDeletionTag(item, client), client, caps) : item.payload;
      // Nothing is sent after a cancel.
      if (activity.cancellationSignal.aborted) throw activity.cancellationSignal.reason;
      await deps.jobs.appendEvent(ctx.jobId, 'dispatch', { key: item.key, op: item.op, kind: item.kind, vmid: item.vmid, node: item.node, name: item.name }, `dispatch:${item.key}`);
      log.info(`dispatch ${item.op} ${item.kind} ${item.vmid} ${item.name} on ${item.node}`, { jobId: ctx.jobId, vmid: item.vmid, netboxId: item.netboxId });
      // A write that was sent is awaited, cancel or not: its outcome is what the job must record.
      const response = await withHeartbeat({ key: item.key, phase: 'apply', sent: true }, () => client.apply(item.backendEndpointId, {
        run_uuid: `${ctx.runUuid}:${item.netboxId}`,
        branch_id: ctx.branchId,
        actor: ctx.username,
        diffs: [{ op: item.op, kind: item.kind, netbox_id: item.netboxId, payload }],
      }));
      const r = response.results[0];
      if (!r) return record(ctx.jobId, resultOf(item, 'failed', 'empty_response', 'proxbox-api returned no result for this diff'));
      if (r.status === 'skipped') return record(ctx.jobId, resultOf(item, 'skipped', r.reason === null ? null : reportedReason(r.reason), r.message));
      if (r.status === 'not_implemented') return record(ctx.jobId, resultOf(item, 'not_implemented', r.reason === null ? null : reportedReason(r.reason), r.message));
      if (r.status === 'failed') return record(ctx.jobId, resultOf(item, 'failed', (r.reason === null ? failureReasonOf(r.message) : reportedReason(r.reason)), r.message));
      // Remember the task across a lost worker: the next attempt follows it instead of guessing.
      activity.heartbeat({ key: item.key, phase: 'task', sent: true, upid: r.proxmox_upid });
      const task = await waitForTask(client, caps, { backendEndpointId: item.backendEndpointId, node: item.node, upid: r.proxmox_upid, vmid: item.vmid, op: item.op as 'create' | 'update' },
        { pollMs: deps.taskPollMs ?? 2000, deadlineMs: deps.taskDeadlineMs ?? 15 * 60_000, signal: null, metrics });
      return record(ctx.jobId, taskResult(item, task, { message: r.message, upid: r.proxmox_upid }));
    } catch (err) {
      return handleApplyError(err, item, ctx, client);
    }
  }

  /**
   * proxbox-api.md §8.5 after an unknown outcome or a lost worker: follow the task an earlier attempt started, or read the cluster.
   * An absent guest may be created again (null); one with our name, node and kind is adopted and followed until its
   * lock clears; anything else is a VMID collision that must not be retried. Runs to its end even when the run is
   * being cancelled, because an earlier attempt may already have written.
   */
  async function resumeCreate(item: WorkItem, client: ProxboxClient, caps: Capabilities): Promise<VmResult | null> {
    const earlier = Context.current().info.heartbeatDetails as { upid?: string | null } | undefined;
    const follow = async (upid: string | null, how: string) => {
      const task = await waitForTask(client, caps, { backendEndpointId: item.backendEndpointId, node: item.node, upid, vmid: item.vmid, op: 'create' },
        { pollMs: deps.taskPollMs ?? 2000, deadlineMs: deps.taskDeadlineMs ?? 15 * 60_000, signal: null, metrics });
      return taskResult(item, task, { message: how, upid, reason: 'adopted' });
    };
    if (earlier?.upid) return follow(earlier.upid, `Followed the create task an earlier attempt started (${earlier.upid})`);
    const guest = await client.findGuest(item.backendEndpointId, item.vmid);
    if (!guest) return null;
    if (guest.name === item.name && guest.node === item.node && guest.type === item.kind) {
      return follow(null, `Guest ${item.vmid} already existed with our name, node and kind after an unknown outcome: adopted, not created twice`);
    }
    return resultOf(item, 'failed', 'vmid_in_use',
      `VMID ${item.vmid} is in use by ${guest.type} '${guest.name ?? '?'}' on ${guest.node ?? '?'}: not ours, so nothing was sent`);
  }

  async function handleApplyError(err: unknown, item: WorkItem, ctx: ApplyContext, client: ProxboxClient): Promise<ItemOutcome> {
    const signal = Context.current().cancellationSignal;
    if (!(err instanceof ProxboxError)) {
      // Report a cancel before anything was sent as a cancel (the reason is Temporal's CancelledFailure).
      if (signal.aborted) throw signal.reason;
      throw err;
    }
    const c = err.classified;
    if (c?.shape === 'E3') return record(ctx.jobId, resultOf(item, 'blocked', reportedReason(c.reason), c.reason === 'writes_disabled_for_endpoint' ? 'writes_disabled_for_endpoint' : err.message));
    // A read that failed for a passing reason (the gate, capabilities, the task's status, the cluster after an unknown
    // outcome) is retried too: recording `failed` there would contradict a guest the write already created.
    if (err.unknownOutcome || err.isTransient) {
      // A cancelled run is not retried: say what the cluster shows instead of leaving the VM without a result.
      if (signal.aborted && (err.unknownOutcome || item.op === 'create')) return record(ctx.jobId, await verifiedAfterCancel(item, client, err.message));
      if (signal.aborted) throw signal.reason;
      // Unknown outcome: retry; a create's next attempt reads state before resending (check-before-create).
      throw ApplicationFailure.create({ message: err.message, type: `proxbox-api:${err.kind}`, nonRetryable: false });
    }
    return record(ctx.jobId, resultOf(item, 'failed', err.kind, err.message));
  }

  /** A write with an unknown outcome in a run that was cancelled meanwhile: one read of the cluster decides. */
  async function verifiedAfterCancel(item: WorkItem, client: ProxboxClient, why: string): Promise<VmResult> {
    const guest = await client.findGuest(item.backendEndpointId, item.vmid).catch(() => undefined);
    const ours = guest && guest.name === item.name && guest.node === item.node && guest.type === item.kind;
    if (item.op === 'create' && ours && !guest.lock) {
      return resultOf(item, 'succeeded', 'adopted', `${why}; the run was cancelled and the cluster shows the guest created`);
    }
    return resultOf(item, 'unknown', 'unknown_outcome', `${why}; the run was cancelled, so it is not retried. ${
      guest === undefined ? 'The cluster could not be read' : guest ? `The cluster lists ${item.vmid} (lock: ${guest.lock ?? 'none'})` : `The cluster does not list ${item.vmid} yet`
    }: check ${item.kind} ${item.vmid} in Proxmox.`);
  }
}

/** The per-VM result of a write whose task was followed (or could not be). */
function taskResult(item: WorkItem, task: TaskOutcome, sent: { message: string; upid: string | null; reason?: ResultReason }): VmResult {
  const extra = { proxmoxUpid: sent.upid };
  const reason = sent.reason ?? null;
  if (task.done && task.ok) return resultOf(item, 'succeeded', reason, task.warnings ? `${sent.message} (${task.warnings})`.trim() : sent.message, extra);
  if (task.done) return resultOf(item, 'failed', 'proxmox_task_failed', `Proxmox task failed: ${task.reason}`, extra);
  if (!task.followable) return resultOf(item, 'accepted', reason, sent.message || `accepted by proxbox-api (${task.why})`, extra);
  return resultOf(item, 'unknown', 'unknown_outcome', `${sent.message ? `${sent.message}. ` : ''}The outcome is unknown: ${task.why}. Check ${item.kind} ${item.vmid} in Proxmox.`, extra);
}

export type ApplyActivities = ReturnType<typeof createApplyActivities>;

function abortReason(branch: Branch, input: Pick<ApplyRun, 'mergedTimeMs' | 'schemaId'>): string | null {
  if (branch.status.value !== 'merged' && branch.status.value !== 'archived') return `Branch ${branch.name} is ${branch.status.value}, not merged: nothing is applied`;
  if (branch.merged_time === null || toEpochMs(branch.merged_time) !== input.mergedTimeMs) return `Branch ${branch.name} was reverted or merged again since this merge: this run applies nothing`;
  if (branch.schema_id !== input.schemaId) return `Branch ${branch.id} has schema ${branch.schema_id}, expected ${input.schemaId}`;
  if (!optedIn(branch)) return 'Branch is not opted in';
  return null;
}

function immediateResult(p: PlannedChange, closed: ClosedGate | null): VmResult | null {
  const item = { key: p.key, vmid: p.vmid, netboxId: p.netboxId, name: p.name, op: p.op, kind: p.kind };
  const as = (status: ResultStatus, reason: ResultReason | null, message: string) => resultOf(item as WorkItem, status, reason, message);
  if (p.vanished) return as('skipped', 'vanished_in_branch', 'Created and deleted inside the branch: nothing reached main, nothing to apply');
  const blocked = p.findings.find((f) => f.severity === 'blocked');
  if (blocked) return as('blocked', blocked.reason, blocked.message);
  if (closed) return as('blocked', closed.reason, closed.message);
  if (p.noop) return as('skipped', 'no_op', 'No change to apply: the desired state equals the pre-change data');
  return null;
}

/** The live log's `plan_summary`, added up page by page. */
interface PlanSummary {
  total: number; dispatched: number; creates: number; updates: number; deletes: number; enabled: boolean;
  warnings: ({ key: string } & Finding)[];
}

function emptySummary(settings: IntentSettings): PlanSummary {
  return { total: 0, dispatched: 0, creates: 0, updates: 0, deletes: 0, enabled: settings.netboxToProxmoxEnabled, warnings: [] };
}

function addToSummary(summary: PlanSummary, planned: readonly PlannedChange[], dispatched: number): void {
  summary.total += planned.length;
  summary.dispatched += dispatched;
  for (const p of planned) {
    if (p.op === 'create') summary.creates += 1;
    else if (p.op === 'update') summary.updates += 1;
    else if (p.op === 'delete') summary.deletes += 1;
    for (const f of p.findings) if (f.severity === 'warning') summary.warnings.push({ key: p.key, ...f });
  }
}

/** The smallest VMIDs of the work list so far, with this page's, as many as the search attribute takes. */
function smallestVmids(sofar: readonly number[], items: readonly WorkItem[]): number[] {
  return [...new Set([...sofar, ...items.map((i) => i.vmid)])].sort((a, b) => a - b).slice(0, SEARCH_VMIDS);
}

/**
 * An update sends only the NICs that differ from the guest's live config, each keeping what Proxmox holds beyond what
 * NetBox models (its MAC when NetBox has none, firewall, rate...): domain/nics.ts.
 */
async function onlyChangedNics(item: WorkItem, payload: WorkItem['payload'], client: ProxboxClient, caps: Capabilities): Promise<WorkItem['payload']> {
  if (!payload?.nics?.length) return payload;
  if (item.kind === 'lxc' && !caps.lxcConfigProxy) {
    throw new ProxboxError('rejected', 'proxbox-api offers no way to read an LXC config, so its NICs cannot be compared before the update', null, null, false);
  }
  const signal = Context.current().cancellationSignal;
  // The LXC config is read through the generated proxy, which names endpoints (proxbox-api.md §8.3).
  const endpointName = item.kind === 'lxc' ? (await client.endpoint(item.backendEndpointId, signal)).name : '';
  const config = await client.guestConfig(item.backendEndpointId, { node: item.node, kind: item.kind, vmid: item.vmid, endpointName }, signal);
  const nics = nicsToSend(item.kind, payload.nics, config);
  const { nics: _all, ...rest } = payload;
  return (nics.length ? { ...rest, nics } : rest) as WorkItem['payload'];
}

/**
 * A tags update replaces every Proxmox tag (proxbox-api.md §5.5); a guest marked for deletion keeps its mark.
 */
async function keepPendingDeletionTag(item: WorkItem, client: ProxboxClient): Promise<WorkItem['payload']> {
  const tags = item.payload?.tags;
  if (!item.payload || tags === undefined) return item.payload;
  const guest = await client.findGuest(item.backendEndpointId, item.vmid, Context.current().cancellationSignal);
  const live = tagSet(guest?.tags ?? null);
  if (!live.includes(PENDING_DELETION_TAG) || tags.includes(PENDING_DELETION_TAG)) return item.payload;
  return { ...item.payload, tags: [...tags, PENDING_DELETION_TAG] };
}
