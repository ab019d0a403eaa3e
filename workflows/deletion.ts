import {
  ApplicationFailure, condition, log, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes,
} from '@temporalio/workflow';
import type { DeletionActivities } from '../activities/deletion';
import type { DeletionWorkflowInput } from '../activities/types';
import { SA_STATE, decideUpdate, deletionStateQuery, type DeletionLiveState } from './definitions';

const acts = proxyActivities<DeletionActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 20 },
});
/** The destroy is never retried blindly: one attempt, and any failure ends the request `failed`. */
const destroy = proxyActivities<DeletionActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 1 },
});

/**
 * One DeletionRequest: tag the guest pending-deletion, wait (durably, up to the TTL) for a signed decision by a
 * different authorised user, then destroy through proxbox-api, or untag on rejection and expiry.
 */
export async function DeletionWorkflow(input: DeletionWorkflowInput): Promise<DeletionLiveState> {
  const state: DeletionLiveState = {
    requestId: input.requestId, state: 'pending', vmid: input.vmid, node: input.node, kind: input.kind,
    requestedBy: input.requestedBy, expiresAt: new Date(input.expiresAtMs).toISOString(), decidedBy: null, reason: null, refusedAttempts: 0,
  };
  let deciding = false;
  const show = () => {
    setCurrentDetails(`**${state.state}** — ${input.kind} ${input.vmid} ${input.name} on ${input.node}; requested by ${input.requestedBy}` +
      (state.state === 'pending' ? `; expires ${state.expiresAt}` : '') + (state.decidedBy ? `; decided by ${state.decidedBy}` : '') +
      (state.reason ? `; ${state.reason}` : ''));
    upsertSearchAttributes([{ key: SA_STATE, value: state.state }]);
  };
  setHandler(deletionStateQuery, () => state);
  setHandler(decideUpdate, async (signed) => {
    deciding = true;
    try {
      const outcome = await acts.decideDeletion(input.requestId, signed);
      if (!outcome.ok) {
        state.refusedAttempts += 1;
        throw ApplicationFailure.create({ message: outcome.refusal.detail, type: outcome.refusal.code, nonRetryable: true, details: [outcome.refusal.status] });
      }
      state.state = outcome.action === 'approve' ? 'approved' : 'rejected';
      state.decidedBy = outcome.actor;
      if (outcome.action === 'reject') state.reason = signed.decision.reason ?? null;
      show();
      return state;
    } finally {
      deciding = false;
    }
  }, {
    validator: (_signed) => {
      if (state.state !== 'pending' || deciding) throw new Error(`Deletion request is ${deciding ? 'being decided' : state.state}; only pending requests can be decided.`);
    },
  });

  show();
  await acts.markPendingDeletion(input.requestId);
  const decided = await condition(() => state.state !== 'pending' && !deciding, Math.max(0, input.expiresAtMs - Date.now()));
  if (!decided) {
    // The TTL passed with no decision: wait for an in-flight decision to settle before expiring.
    await condition(() => !deciding);
  }
  if (state.state === 'pending') {
    state.state = 'expired';
    state.reason = 'expired before anyone approved it';
    await acts.expireDeletion(input.requestId);
    await acts.untagPendingDeletion(input.requestId);
  } else if (state.state === 'rejected') {
    await acts.untagPendingDeletion(input.requestId);
  } else {
    state.state = 'executing';
    show();
    const result = await destroy.executeDeletion(input.requestId).catch((err: unknown) => {
      log.error('executeDeletion failed', { error: String(err) });
      return { state: 'failed' as const, reason: String(err), upid: null };
    });
    state.state = result.state;
    state.reason = result.reason;
    if (result.state === 'failed') await acts.untagPendingDeletion(input.requestId);
  }
  show();
  return state;
}
