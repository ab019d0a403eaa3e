import type { PlannedChange } from '../domain/change-plan';
import type { GuestKind } from '../domain/permissions';
import type { FinalJobState } from '../domain/job-state';

/** Serialisable types that cross the workflow/activity boundary (they end up in workflow history: no secrets). */

export interface ApplyWorkflowInput {
  jobId: string;
  branchId: number;
  schemaId: string;
  mergedTimeMs: number;
  username: string | null;
  maxConcurrency: number;
}

export interface ApplyContext {
  jobId: string;
  runUuid: string;
  branchId: number;
  username: string | null;
}

/** A planned change that passed every check at plan time, routed to its endpoint: the work one activity does. */
export type WorkItem = Pick<PlannedChange, 'key' | 'changeDiffId' | 'netboxId' | 'name' | 'op' | 'kind' | 'clusterId' | 'payload' | 'deletion'> & {
  vmid: number;
  node: string;
  endpointId: number;
  backendEndpointId: number;
};

/** What a result needs to name a VM whose write never settled (no payload: it would land in history). */
export type UnsettledItem = Pick<WorkItem, 'key' | 'vmid' | 'netboxId' | 'name' | 'op' | 'kind' | 'node'>;

export interface ApplyPlan {
  branchName: string;
  /** Set when the run must not proceed at all (branch reverted, not merged, not opted in). */
  abort: string | null;
  items: WorkItem[];
  recorded: number;
}

export interface ItemOutcome { key: string; status: string; message: string }

export interface DeletionStarted {
  requestId: number;
  workflowId: string;
  expiresAtMs: number;
}

export interface DeletionWorkflowInput {
  requestId: number;
  vmid: number;
  node: string;
  kind: GuestKind;
  name: string;
  requestedBy: string;
  branchSchemaId: string;
  expiresAtMs: number;
}

export interface ApplyOutcome { state: FinalJobState; pendingDeletionRequestIds: number[] }
