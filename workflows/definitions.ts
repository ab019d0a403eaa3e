import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SignedDeletionDecision } from '../domain/deletion-decision';
import type { DeletionState } from '../domain/deletion-rules';

/** Search attributes operators filter runs by in the Temporal UI; registered by the dev server and compose stack. */
export const SA_BRANCH = defineSearchAttributeKey('ProxboxBranch', SearchAttributeType.KEYWORD);
export const SA_STATE = defineSearchAttributeKey('ProxboxState', SearchAttributeType.KEYWORD);
export const SA_USER = defineSearchAttributeKey('ProxboxUser', SearchAttributeType.KEYWORD);
export const SA_VMIDS = defineSearchAttributeKey('ProxboxVmids', SearchAttributeType.KEYWORD_LIST);
export const SA_KIND = defineSearchAttributeKey('ProxboxKind', SearchAttributeType.KEYWORD);
export const WORKFLOW_SEARCH_ATTRIBUTES = [SA_BRANCH, SA_STATE, SA_USER, SA_VMIDS, SA_KIND] as const;

/** Temporal limits one search attribute value to 2 KiB; a big branch lists its first VMIDs and says how many more. */
export const VMID_ATTRIBUTE_BUDGET = 1800;

export function vmidSearchValues(vmids: readonly number[], budget = VMID_ATTRIBUTE_BUDGET): string[] {
  const out: string[] = [];
  let size = 2;
  for (const v of [...new Set(vmids)].sort((a, b) => a - b)) {
    const s = String(v);
    if (size + s.length + 3 > budget) break;
    out.push(s);
    size += s.length + 3;
  }
  return out;
}

export interface ApplyLiveState {
  phase: 'planning' | 'applying' | 'finishing' | 'done' | 'cancelling' | 'cancelled' | 'failed';
  /** Which run of the apply's chain answers (continue-as-new starts a new run every few thousand items). */
  run: number;
  /** Items of the whole apply, and how many have settled (across every run of the chain). */
  total: number;
  done: number;
  inFlight: string[];
  /** Outcomes of the VMs this run handled (the job's results hold every VM). */
  outcomes: Record<string, string>;
  /** Deletion requests this run created. */
  deletionRequestIds: number[];
}

export interface DeletionLiveState {
  requestId: number;
  state: DeletionState;
  vmid: number;
  node: string;
  kind: string;
  requestedBy: string;
  expiresAt: string;
  decidedBy: string | null;
  reason: string | null;
  reasonCode: string | null;
  /** Decisions the workflow refused (unsigned, forged, for another request, or breaking the four-eyes rules). */
  refusedAttempts: number;
}

export const applyStateQuery = defineQuery<ApplyLiveState>('applyState');
/**
 * Who cancels, sent just before the workflow's cancellation. `force` abandons waiting for writes already sent to
 * proxbox-api: their VMs are then recorded as unknown outcomes (unless their real outcome landed first).
 */
export const cancelRequestedSignal = defineSignal<[{ by: string; force?: boolean }]>('cancelRequested');

export const deletionStateQuery = defineQuery<DeletionLiveState>('deletionState');
/** Approve and reject go through one update so the API gets a synchronous answer; only signed decisions count. */
export const decideUpdate = defineUpdate<DeletionLiveState, [SignedDeletionDecision]>('decide');
/**
 * The same decision as a signal, for tooling that cannot wait for an answer. Same rules: only a decision our API
 * signed for this request counts, and every refused one is recorded in the request's history.
 */
export const decideSignal = defineSignal<[SignedDeletionDecision]>('decide');

/** New outbox rows for a DeliveryWorkflow's subject: deliver now rather than at the next scheduled round. */
export const deliveryWakeSignal = defineSignal('wake');

export const DELIVERY_WORKFLOW = 'DeliveryWorkflow';

/**
 * One delivery workflow per subject (apply job, deletion request, destination) at a time, per task queue:
 * `deliveries:<task queue>:<type>:<id>`. Subject ids are only unique within one database, so deployments and test
 * stacks that share a Temporal namespace must not wake (and be delivered by) each other's workflows.
 */
export function deliveryWorkflowId(taskQueue: string, subject: { type: string; id: string }): string {
  return `deliveries:${taskQueue}:${subject.type}:${subject.id}`;
}
