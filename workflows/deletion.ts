import {
  ApplicationFailure, allHandlersFinished, condition, log, proxyActivities, proxyLocalActivities, setCurrentDetails, setHandler,
  upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { DecisionChannel, DecisionOutcome, DeletionActivities, ExecutionOutcome } from '../activities/deletion';
import type { DeletionWorkflowInput } from './types';
import { MALFORMED_DECISION, isWellFormedDecision, type SignedDeletionDecision } from '../domain/deletion-decision';
import { SA_STATE, decideSignal, decideUpdate, deletionStateQuery, type DeletionLiveState } from './definitions';

/**
 * Bookkeeping (tag, expire, untag, record) never gives up: a request left `pending` and tagged with no workflow to
 * decide it would be stuck for good. While it keeps failing, the API shows the trouble on the request.
 */
const acts = proxyActivities<DeletionActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});
/**
 * Deciding is short (verify, read, one conditional write) and an approver waits for it: a local activity runs it
 * inside the workflow task, without a round trip through the task queue.
 */
const deciding = proxyLocalActivities<DeletionActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500ms', maximumInterval: '10s', maximumAttempts: 10 },
});
/**
 * After the destroy activity was lost: read the cluster to record what really happened (the destroy may still be
 * running in Proxmox). Reads and one conditional update, so it may be retried; it heartbeats while it watches.
 */
const settling = proxyActivities<DeletionActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '1 minute' },
});
/** The destroy is never retried blindly: one attempt, and any failure ends the request `failed`. */
const destroy = proxyActivities<DeletionActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 1 },
});

/**
 * One DeletionRequest: tag the guest pending-deletion, wait (durably, up to the TTL) for a decision our API signed
 * for a different authorised user, then destroy through proxbox-api, or untag on rejection, expiry and failure.
 * Decisions and the expiry run one at a time, so the first one to land wins and the others are refused and recorded.
 */
export async function DeletionWorkflow(input: DeletionWorkflowInput): Promise<DeletionLiveState> {
  const state: DeletionLiveState = {
    requestId: input.requestId, state: 'pending', vmid: input.vmid, node: input.node, kind: input.kind,
    requestedBy: input.requestedBy, expiresAt: new Date(input.expiresAtMs).toISOString(), decidedBy: null,
    reason: null, reasonCode: null, refusedAttempts: 0,
  };
  const show = () => {
    setCurrentDetails(`**${state.state}** — ${input.kind} ${input.vmid} ${input.name} on ${input.node}\n\n` +
      `requested by ${input.requestedBy}; ${state.state === 'pending' ? 'expires' : 'deadline was'} ${state.expiresAt}` +
      (state.decidedBy ? `; decided by ${state.decidedBy}` : '') + (state.reason ? `\n\n${state.reason}` : ''));
    upsertSearchAttributes([{ key: SA_STATE, value: state.state }]);
  };

  let turn: Promise<unknown> = Promise.resolve();
  /** Runs `work` after everything queued before it: decisions and the expiry never interleave. */
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const run = turn.then(work);
    turn = run.catch(() => undefined);
    return run;
  };
  const decide = (signed: SignedDeletionDecision, channel: DecisionChannel): Promise<DecisionOutcome> => oneAtATime(async () => {
    // The activity verifies the signature and re-checks the rules against PostgreSQL; it records every refusal.
    // The activity compares the signed workflow id with ours: a decision counts only in the workflow it was signed for.
    const outcome = await deciding.decideDeletion(input.requestId, signed, channel, workflowInfo().workflowId);
    if (!outcome.ok) {
      state.refusedAttempts += 1;
      return outcome;
    }
    state.state = outcome.state;
    state.decidedBy = outcome.actor;
    if (outcome.state === 'rejected') {
      state.reason = outcome.reason;
      state.reasonCode = 'rejected';
    }
    show();
    return outcome;
  });

  setHandler(deletionStateQuery, () => state);
  setHandler(decideUpdate, async (signed) => {
    const outcome = await decide(signed, 'update');
    if (!outcome.ok) {
      // The refusal's code is its type; the API maps codes to HTTP statuses.
      const { code, detail } = outcome.refusal;
      throw ApplicationFailure.create({ message: detail, type: code, nonRetryable: true });
    }
    return { ...state };
  }, {
    // Shape only (deterministic, synchronous): an unsigned or malformed update is rejected before it reaches the
    // history; the signature itself is verified by the local activity.
    validator: (signed) => {
      if (!isWellFormedDecision(signed)) throw ApplicationFailure.create({ message: MALFORMED_DECISION, type: 'forged_decision', nonRetryable: true });
    },
  });
  setHandler(decideSignal, async (signed) => {
    // A signal has nobody to answer: the outcome is in the request's history. Never let it fail the workflow.
    await decide(signed, 'signal').catch((err: unknown) => log.warn('decision by signal could not be processed', { error: String(err) }));
  });

  show();
  await acts.markPendingDeletion(input.requestId);
  const decided = await condition(() => state.state !== 'pending', Math.max(1, input.expiresAtMs - Date.now()));
  if (!decided) {
    await oneAtATime(async () => {
      if (state.state !== 'pending') return;
      state.state = 'expired';
      state.reasonCode = 'expired';
      state.reason = `The request expired at ${state.expiresAt} before anyone approved it; nothing was destroyed.`;
      show();
      await acts.expireDeletion(input.requestId);
    });
  }

  if (state.state === 'approved') {
    state.state = 'executing';
    show();
    const result: ExecutionOutcome = await destroy.executeDeletion(input.requestId).catch((err: unknown) => {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
      return settling.recordDeletionFailure(input.requestId, `The execution stopped without an answer (${cause}).`);
    });
    state.state = result.state;
    state.reason = result.reason;
    state.reasonCode = result.reasonCode;
    show();
  }
  if (state.state !== 'succeeded') await acts.untagPendingDeletion(input.requestId);
  // Decisions that arrive late are still answered (refused) and recorded before the run closes.
  await condition(allHandlersFinished);
  return state;
}
