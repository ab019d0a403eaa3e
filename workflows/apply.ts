import {
  ActivityCancellationType, ActivityFailure, CancellationScope, ChildWorkflowCancellationType, ParentClosePolicy, isCancellation, proxyActivities, setCurrentDetails, setHandler,
  startChild, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { ApplyActivities } from '../activities/apply';
import type { ApplyOutcome, ApplyWorkflowInput, WorkItem } from '../activities/types';
import { runBounded } from '../domain/bounded';
import { DeletionWorkflow } from './deletion';
import { SA_BRANCH, SA_KIND, SA_STATE, SA_USER, SA_VMIDS, applyStateQuery, cancelRequestedSignal, vmidSearchValues, type ApplyLiveState } from './definitions';

const planning = proxyActivities<ApplyActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 30 },
});
const writes = proxyActivities<ApplyActivities>({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '45s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 8 },
  // A cancel waits until the in-flight write has really stopped, so the job's results never change after it.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
const bookkeeping = proxyActivities<ApplyActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

const describe = (i: WorkItem) => `${i.op} ${i.kind} ${i.vmid} ${i.name} on ${i.node}`;

/**
 * One merged, opted-in branch: read its diffs, apply each create and update through proxbox-api with failures
 * isolated per VM, turn each delete into a DeletionRequest with its own DeletionWorkflow, and close the job.
 */
export async function ApplyWorkflow(input: ApplyWorkflowInput): Promise<ApplyOutcome> {
  const state: ApplyLiveState = { phase: 'planning', total: 0, done: 0, inFlight: [], outcomes: {}, deletionRequestIds: [] };
  let cancelledBy: string | null = null;
  setHandler(applyStateQuery, () => state);
  setHandler(cancelRequestedSignal, ({ by }) => { cancelledBy = by; });
  const progress = () => setCurrentDetails(
    `**${state.phase}**: ${state.done}/${state.total} done` + (state.inFlight.length ? `; in flight: ${state.inFlight.join(', ')}` : ''),
  );
  const ctx = { jobId: input.jobId, runUuid: workflowInfo().workflowId, branchId: input.branchId, username: input.username };

  try {
    progress();
    const plan = await planning.loadApplyPlan(input);
    if (plan.abort) {
      state.phase = 'done';
      const { state: final } = await bookkeeping.finishApplyJob({ jobId: input.jobId, error: plan.abort });
      upsertSearchAttributes([{ key: SA_STATE, value: final }]);
      return { state: final as ApplyOutcome['state'], pendingDeletionRequestIds: [] };
    }
    state.total = plan.items.length + plan.recorded;
    state.done = plan.recorded;
    state.phase = 'applying';
    upsertSearchAttributes([{ key: SA_STATE, value: 'running' }, { key: SA_VMIDS, value: vmidSearchValues(plan.items.map((i) => i.vmid)) }]);
    progress();

    await runBounded(plan.items, input.maxConcurrency, async (item) => {
      state.inFlight.push(item.key);
      progress();
      try {
        if (item.op === 'delete') {
          const started = await bookkeeping.requestDeletion.executeWithOptions({ summary: `request deletion of ${item.kind} ${item.vmid} ${item.name}` },
            [item, { ...ctx, schemaId: input.schemaId, mergedTimeMs: input.mergedTimeMs, branchName: plan.branchName }]);
          if (started) {
            await startChild(DeletionWorkflow, {
              workflowId: started.workflowId,
              parentClosePolicy: ParentClosePolicy.ABANDON,
              // Cancelling the apply must not cancel pending deletions: they follow their own lifecycle.
              cancellationType: ChildWorkflowCancellationType.ABANDON,
              args: [{ requestId: started.requestId, vmid: item.vmid, node: item.node, kind: item.kind, name: item.name,
                requestedBy: input.username ?? 'unknown', branchSchemaId: input.schemaId, expiresAtMs: started.expiresAtMs }],
              typedSearchAttributes: [
                { key: SA_BRANCH, value: input.schemaId }, { key: SA_STATE, value: 'pending' }, { key: SA_KIND, value: item.kind },
                { key: SA_VMIDS, value: [String(item.vmid)] }, ...(input.username ? [{ key: SA_USER, value: input.username }] : []),
              ],
              staticSummary: `Deletion of ${item.kind} ${item.vmid} ${item.name} on ${item.node}, requested by ${input.username ?? 'unknown'}, expires ${new Date(started.expiresAtMs).toISOString()}`,
            });
            state.deletionRequestIds.push(started.requestId);
          }
          state.outcomes[item.key] = started ? 'deletion_requested' : 'blocked';
        } else {
          const outcome = await writes.applyGuestChange.executeWithOptions({ summary: describe(item) }, [item, ctx]);
          state.outcomes[item.key] = outcome.status;
        }
      } catch (err) {
        if (isCancellation(err)) throw err;
        const message = err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);
        const outcome = await bookkeeping.recordItemFailure(item, ctx, `Gave up after retries: ${message}`);
        state.outcomes[item.key] = outcome.status;
      } finally {
        state.inFlight = state.inFlight.filter((k) => k !== item.key);
        state.done += 1;
        progress();
      }
    });

    state.phase = 'finishing';
    progress();
    const changed = plan.items.filter((i) => i.op !== 'delete' && ['succeeded', 'accepted'].includes(state.outcomes[i.key] ?? ''));
    await bookkeeping.verifyDrift.executeWithOptions({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '1 minute', summary: `read back ${changed.length} guest(s) for drift` }, [changed, ctx]);
    const { state: final } = await bookkeeping.finishApplyJob({ jobId: input.jobId });
    state.phase = 'done';
    upsertSearchAttributes([{ key: SA_STATE, value: final }]);
    progress();
    return { state: final as ApplyOutcome['state'], pendingDeletionRequestIds: state.deletionRequestIds };
  } catch (err) {
    if (!isCancellation(err)) throw err;
    state.phase = 'cancelled';
    await CancellationScope.nonCancellable(async () => {
      await bookkeeping.recordApplyCancellation({ jobId: input.jobId, by: cancelledBy });
      upsertSearchAttributes([{ key: SA_STATE, value: 'failed' }]);
    });
    progress();
    throw err;
  }
}
