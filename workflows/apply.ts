import {
  ActivityCancellationType, ActivityFailure, ApplicationFailure, CancellationScope, CancelledFailure, ChildWorkflowCancellationType, ContinueAsNew, ParentClosePolicy,
  condition, continueAsNew, isCancellation, proxyActivities, setCurrentDetails, setHandler, startChild, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { ApplyActivities } from '../activities/apply';
import type { ApplyContext, ApplyOutcome, ApplyRun, ApplyWorkflowInput, UnsettledItem, WorkItem, WorkPage } from './types';
import { nextPageLimit, runBudgetFor, shouldContinueAsNew } from '../domain/apply-chain';
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
  // A cancelled write reports back: one not yet sent stops, one already sent finishes and records its real outcome.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
const bookkeeping = proxyActivities<ApplyActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

const identityOf = ({ key, vmid, netboxId, name, op, kind, node }: WorkItem): UnsettledItem => ({ key, vmid, netboxId, name, op, kind, node });
const describe = (i: WorkItem) => `${i.op} ${i.kind} ${i.vmid} ${i.name} on ${i.node}`;
const messageOf = (err: unknown) => (err instanceof ActivityFailure && err.cause ? err.cause.message : err instanceof Error ? err.message : String(err));

/**
 * One merged, opted-in branch: read its diffs, apply each create and update through proxbox-api with failures
 * isolated per VM, turn each delete into a DeletionRequest with its own DeletionWorkflow, and close the job.
 *
 * The work list is in PostgreSQL, read a page at a time; every few thousand items (domain/apply-chain.ts) the run lets
 * its writes settle and continues as new with the position reached, so neither a payload nor a history grows with
 * the branch. The chain keeps its workflow id and first run id: the job's claim, its links, signals, queries and
 * cancels reach whichever run is current.
 *
 * Cancel is a graceful stop: nothing is dispatched after it, writes already sent to proxbox-api are followed to
 * their end, and every VM that was never sent gets a `cancelled` result. A forced cancel stops waiting for the writes
 * in flight and records them as unknown outcomes (their real outcome replaces that when it arrives).
 */
export async function ApplyWorkflow(input: ApplyWorkflowInput): Promise<ApplyOutcome> {
  const continued = input.continued ?? null;
  const state: ApplyLiveState = {
    phase: continued ? 'applying' : 'planning', run: continued?.run ?? 1, total: continued?.total ?? 0, done: continued?.done ?? 0,
    inFlight: [], outcomes: {}, deletionRequestIds: [],
  };
  let cancelledBy: string | null = continued?.cancelledBy ?? null;
  let stopping = false;
  let forced = false;
  const inFlight = new Map<string, { item: WorkItem; scope: CancellationScope }>();
  const stop = () => {
    if (stopping) return;
    stopping = true;
    state.phase = 'cancelling';
    for (const { scope } of inFlight.values()) scope.cancel();
    progress();
  };
  setHandler(applyStateQuery, () => state);
  setHandler(cancelRequestedSignal, ({ by, force }) => {
    cancelledBy = by;
    if (force) {
      forced = true;
      stop();
    }
  });
  let runCancelled = false;
  CancellationScope.current().cancelRequested.catch(() => {
    runCancelled = true;
    stop();
  });
  const progress = () => setCurrentDetails(
    `**${state.phase}**${state.run > 1 ? ` (run ${state.run} of this apply)` : ''}: ${state.done}/${state.total} done`
      + (state.inFlight.length ? `; in flight: ${state.inFlight.join(', ')}` : ''),
  );
  const { workflowId, firstExecutionRunId: firstRunId } = workflowInfo();
  // Filled from the job row once this run has claimed it; nothing of the input but the job id (and, for a run of the
  // chain, the position reached) is trusted.
  let run: ApplyRun | null = null;
  let ctx: ApplyContext = { jobId: input.jobId, runUuid: workflowId, branchId: 0, username: null };
  // Outside the run's cancellation: only a forced cancel ends this wait, never the graceful one.
  const forcedStop = CancellationScope.nonCancellable(() => condition(() => forced));

  try {
    progress();
    let branchName: string;
    if (continued) {
      const resumed = await planning.resumeApplyRun({ jobId: input.jobId }, firstRunId);
      if (!resumed.run) throw refusal(resumed.refused);
      run = resumed.run;
      branchName = resumed.branchName;
    } else {
      const plan = await planning.loadApplyPlan({ jobId: input.jobId }, firstRunId);
      if (!plan.run) throw refusal(plan.abort);
      run = plan.run;
      branchName = plan.branchName;
      if (plan.abort) {
        ctx = { jobId: run.jobId, runUuid: workflowId, branchId: run.branchId, username: run.username };
        state.phase = 'done';
        const { state: final } = await bookkeeping.finishApplyJob({ jobId: run.jobId, firstRunId, error: plan.abort });
        upsertSearchAttributes([{ key: SA_STATE, value: final }]);
        return { state: final as ApplyOutcome['state'], pendingDeletionRequestIds: [] };
      }
      state.total = plan.planned + plan.recorded;
      state.done = plan.recorded;
      upsertSearchAttributes([{ key: SA_STATE, value: 'running' }, { key: SA_VMIDS, value: vmidSearchValues(plan.vmids) }]);
    }
    ctx = { jobId: run.jobId, runUuid: workflowId, branchId: run.branchId, username: run.username };
    state.phase = 'applying';
    progress();

    const work = workList(continued?.afterSeq ?? 0, run);
    const abandoned: WorkItem[] = [];
    // The run's own cancellation stops dispatching; what is already under way settles inside this scope.
    await CancellationScope.nonCancellable(() => Promise.all(Array.from({ length: Math.max(1, run!.maxConcurrency) }, async () => {
      for (let item = await work.take(); item; item = await work.take()) {
        state.inFlight.push(item.key);
        progress();
        try {
          if (item.op === 'delete') await requestDeletion(item, branchName);
          else await applyChange(item, abandoned);
        } catch (err) {
          if (isCancellation(err)) throw err;
          const outcome = await bookkeeping.recordItemFailure(item, ctx, `Gave up after retries: ${messageOf(err)}`);
          state.outcomes[item.key] = outcome.status;
        } finally {
          state.inFlight = state.inFlight.filter((k) => k !== item!.key);
          state.done += 1;
          progress();
        }
      }
    })));

    if (stopping) {
      await CancellationScope.nonCancellable(async () => {
        await bookkeeping.recordUnsettledItems({ jobId: ctx.jobId, by: cancelledBy, abandoned: abandoned.map(identityOf) });
        await bookkeeping.recordApplyCancellation({ jobId: ctx.jobId, firstRunId, by: cancelledBy });
        upsertSearchAttributes([{ key: SA_STATE, value: 'failed' }]);
      });
      state.phase = 'cancelled';
      progress();
      // A forced cancel's signal can land before the run's cancellation (the API sends both): wait for it a little,
      // so the run ends Cancelled rather than Failed; a signal alone (other tooling) ends the run normally.
      if (!runCancelled) await CancellationScope.nonCancellable(() => condition(() => runCancelled, '10 seconds'));
      if (runCancelled) throw new CancelledFailure(`Cancelled${cancelledBy ? ` by ${cancelledBy}` : ''}`);
      return { state: 'failed', pendingDeletionRequestIds: state.deletionRequestIds };
    }

    if (work.handOver()) {
      // Every item this run took has settled: the next run starts after the last of them.
      return await continueAsNew<typeof ApplyWorkflow>({
        jobId: input.jobId, continued: { afterSeq: work.cursor(), total: state.total, done: state.done, cancelledBy, run: state.run + 1 },
      });
    }

    state.phase = 'finishing';
    progress();
    await bookkeeping.verifyDrift.executeWithOptions({ startToCloseTimeout: '30 minutes', heartbeatTimeout: '1 minute', summary: 'read back the guests this apply changed, for drift' }, [ctx]);
    const { state: final } = await bookkeeping.finishApplyJob({ jobId: ctx.jobId, firstRunId });
    state.phase = 'done';
    upsertSearchAttributes([{ key: SA_STATE, value: final }]);
    progress();
    return { state: final as ApplyOutcome['state'], pendingDeletionRequestIds: state.deletionRequestIds };
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    if (isCancellation(err)) {
      if (state.phase !== 'cancelled') {
        // Cancelled while planning or checking drift: nothing was in flight.
        await CancellationScope.nonCancellable(async () => {
          // The activity closes the job only if this run claimed it.
          await bookkeeping.recordApplyCancellation({ jobId: input.jobId, firstRunId, by: cancelledBy });
          upsertSearchAttributes([{ key: SA_STATE, value: 'failed' }]);
        });
        state.phase = 'cancelled';
        progress();
      }
      throw err;
    }
    // Any other failure (planning that gave up, a payload too large, a bug) still closes the job and says why;
    // a refused run has no job of its own to close.
    const refused = err instanceof ApplicationFailure && err.type === 'RunRefused';
    state.phase = 'failed';
    if (!refused) {
      await CancellationScope.nonCancellable(async () => {
        await bookkeeping.finishApplyJob({ jobId: input.jobId, firstRunId, error: `The run failed: ${messageOf(err)}`, runFailed: true });
        upsertSearchAttributes([{ key: SA_STATE, value: 'failed' }]);
      });
    }
    progress();
    throw err instanceof ApplicationFailure || err instanceof ActivityFailure ? err : ApplicationFailure.nonRetryable(messageOf(err), 'ApplyWorkflowError');
  }

  function refusal(why: string | null): ApplicationFailure {
    state.phase = 'failed';
    progress();
    return ApplicationFailure.nonRetryable(why ?? 'This run is not the run of an apply job', 'RunRefused');
  }

  /**
   * The work list from position `afterSeq`, a page at a time, the next page read while the lanes still have work. It
   * gives out items in order until the run is stopping, the list is done, or the run's budget says to hand over.
   */
  function workList(afterSeq: number, applyRun: ApplyRun) {
    const budget = runBudgetFor(applyRun.itemsPerRun);
    const buffer: WorkPage['items'] = [];
    let taken = 0;
    let cursor = afterSeq;
    let readUpTo = afterSeq;
    let exhausted = false;
    let handOver = false;
    let reading: Promise<void> | null = null;
    const readPage = () => {
      const limit = nextPageLimit(taken, buffer.length, budget);
      if (exhausted || limit === 0) return Promise.resolve();
      reading ??= bookkeeping.nextApplyItems.executeWithOptions({ summary: `work list after item ${readUpTo}` }, [{ jobId: ctx.jobId, afterSeq: readUpTo, limit }])
        .then((page) => {
          buffer.push(...page.items);
          if (page.items.length) readUpTo = page.items.at(-1)!.seq;
          if (page.items.length < limit) exhausted = true;
        })
        .finally(() => { reading = null; });
      return reading;
    };
    return {
      async take(): Promise<WorkItem | null> {
        for (;;) {
          if (stopping || handOver || (exhausted && buffer.length === 0)) return null;
          const info = workflowInfo();
          if (shouldContinueAsNew({ itemsDispatched: taken, historyLength: info.historyLength, historySizeBytes: info.historySize, continueAsNewSuggested: info.continueAsNewSuggested }, budget)) {
            handOver = true;
            return null;
          }
          const next = buffer.shift();
          if (next) {
            taken += 1;
            cursor = next.seq;
            // Keep a page ahead of the lanes, so no write waits for a read.
            if (buffer.length < applyRun.maxConcurrency && !reading) void readPage();
            return next.item;
          }
          await (reading ?? readPage());
        }
      },
      handOver: () => handOver,
      cursor: () => cursor,
    };
  }

  /** A DELETE: the pending request and its own DeletionWorkflow, created together even while the run is cancelled. */
  async function requestDeletion(item: WorkItem, branchName: string): Promise<void> {
    const started = await bookkeeping.requestDeletion.executeWithOptions({ summary: `request deletion of ${item.kind} ${item.vmid} ${item.name}` },
      [item, { ...ctx, schemaId: run!.schemaId, mergedTimeMs: run!.mergedTimeMs, branchName }]);
    if (started) {
      await startChild(DeletionWorkflow, {
        workflowId: started.workflowId,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        // Cancelling the apply must not cancel pending deletions: they follow their own lifecycle.
        cancellationType: ChildWorkflowCancellationType.ABANDON,
        args: [{ requestId: started.requestId, vmid: item.vmid, node: item.node, kind: item.kind, name: item.name,
          requestedBy: ctx.username ?? 'unknown', branchSchemaId: run!.schemaId, expiresAtMs: started.expiresAtMs }],
        typedSearchAttributes: [
          { key: SA_BRANCH, value: run!.schemaId }, { key: SA_STATE, value: 'pending' }, { key: SA_KIND, value: item.kind },
          { key: SA_VMIDS, value: [String(item.vmid)] }, ...(ctx.username ? [{ key: SA_USER, value: ctx.username }] : []),
        ],
        staticSummary: `Deletion of ${item.kind} ${item.vmid} ${item.name} on ${item.node}, requested by ${ctx.username ?? 'unknown'}, expires ${new Date(started.expiresAtMs).toISOString()}`,
      });
      state.deletionRequestIds.push(started.requestId);
    }
    state.outcomes[item.key] = started ? 'deletion_requested' : 'blocked';
  }

  /** A create or update in a scope of its own, so a cancel reaches exactly the writes in flight. */
  async function applyChange(item: WorkItem, abandoned: WorkItem[]): Promise<void> {
    const scope = new CancellationScope();
    inFlight.set(item.key, { item, scope });
    const write = scope.run(() => writes.applyGuestChange.executeWithOptions({ summary: describe(item) }, [item, ctx]));
    write.catch(() => { /* settled below, or abandoned by a forced cancel */ });
    try {
      const outcome = await Promise.race([write, forcedStop.then(() => null)]);
      if (outcome === null) {
        abandoned.push(item);
        state.outcomes[item.key] = 'unknown';
      } else {
        state.outcomes[item.key] = outcome.status;
      }
    } catch (err) {
      // The activity stopped before sending anything: the VM was never dispatched (its result is written with the
      // rest of the work list that was not sent).
      if (!isCancellation(err) || !stopping) throw err;
      state.outcomes[item.key] = 'cancelled';
    } finally {
      inFlight.delete(item.key);
    }
  }
}
