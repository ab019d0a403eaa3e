import type { PlannedChange } from '../domain/change-planner';
import type { GuestKind } from '../domain/guest-kind';
import type { FinalJobState } from '../domain/job-state';

/**
 * The workflows' contract: inputs, outputs and the values their activities hand them. Serialisable (they end up in workflow
 * history: no secrets). Activities, services and the API import these as types; signals, queries, updates and search
 * attributes are in definitions.ts.
 */

/**
 * What starts an ApplyWorkflow. Only `jobId` is read: anyone who reaches Temporal can start a workflow with any
 * input, so who merged, the branch and the merge come from the job row, and only a run whose workflow id is the
 * row's may work for it. The other fields make the run readable in the Temporal UI and are never trusted.
 */
export interface ApplyWorkflowInput {
  jobId: string;
  branchId?: number;
  schemaId?: string;
  mergedTimeMs?: number;
  username?: string | null;
  maxConcurrency?: number;
  /** Set on a run that continues an earlier run of the same apply (continue-as-new): where the work list stands. */
  continued?: ApplyContinuation;
}

/**
 * What a run hands the next run of its chain: numbers only, so it stays the same size whatever the branch. The job
 * itself (who, which merge) is read again from its row; the work list and the results are in PostgreSQL.
 */
export interface ApplyContinuation {
  /** Every work-list item up to this position was dispatched and has settled. */
  afterSeq: number;
  total: number;
  done: number;
  /** Who asked to cancel, if a `cancelRequested` signal came before the hand-over. */
  cancelledBy: string | null;
  /** The position of the new run in the chain (the first run is 1). */
  run: number;
}

/** The merge a run applies, as its job row says, and the worker's own fan-out limit. */
export interface ApplyRun {
  jobId: string;
  branchId: number;
  schemaId: string;
  mergedTimeMs: number;
  username: string | null;
  maxConcurrency: number;
  /** How many items one run dispatches before it continues as new (APPLY_ITEMS_PER_RUN); absent: the default. */
  itemsPerRun?: number;
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

/**
 * The apply's plan as the `loadApplyPlan` activity returns it: counts, not items. The work list itself is in
 * PostgreSQL (apply_work_items) and is read a page at a time with `nextApplyItems`.
 */
export interface ApplyWorkList {
  /** Null when the run was refused: it is not the run of a job that is still to be applied. */
  run: ApplyRun | null;
  branchName: string;
  /** Set when the run must not proceed at all (branch reverted, not merged, not opted in). */
  abort: string | null;
  /** Items in the work list. */
  planned: number;
  /** Items already settled at plan time (blocked, skipped). */
  recorded: number;
  /** The smallest VMIDs of the work list, enough for the ProxboxVmids search attribute (bounded). */
  vmids: number[];
}

/** A run that continues an apply: the job as its row says, or why this run may not work for it. */
export interface ResumedApplyRun {
  run: ApplyRun | null;
  branchName: string;
  refused: string | null;
}

/** One page of the work list: items with their position, in order. */
export interface WorkPage {
  items: { seq: number; item: WorkItem }[];
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

/** A job whose workflow had ended without closing it, closed `failed` by the reconciler (services/orphaned-jobs). */
export interface ClosedOrphan { jobId: string; workflowId: string; status: string }

/** Serialisable input and result of a reconciler run (they land in workflow history and show in the Temporal UI). */
export interface ReconcileInput {
  lookbackHours: number;
}

export interface ReconcileResult {
  /** Merges at or after this time were examined. */
  windowStart: string;
  examined: number;
  /** Applies this run started: their webhook was lost (or not delivered yet). */
  started: { branchId: number; branchName: string; workflowId: string; jobId: string }[];
  /** Merges whose apply already exists, started by the webhook, the API or an earlier reconciler run. */
  existing: { branchId: number; workflowId: string }[];
  skipped: { branchId: number; reason: string }[];
  /** Branches that could not be examined or started this time; the next run tries again. */
  failed: { branchId: number; error: string }[];
  /** Jobs whose workflow had ended without closing them: now closed `failed`. */
  closedOrphans?: ClosedOrphan[];
  /** Subjects whose deliveries (NetBox write-back, notifications) were overdue (never started, or their worker died): started again. */
  overdueDeliveriesStarted?: number;
  /** Pending deletion requests inside their reminder lead time (each reminded once; a repeat enqueues nothing). */
  deletionRemindersDue?: number;
}
