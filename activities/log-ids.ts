import { Context } from '@temporalio/activity';

/** What a log line of an activity names besides the SDK's own attributes (workflowId, runId, activityId). */
export interface LogIds {
  jobId?: string;
  vmid?: number;
  deletionRequestId?: number;
}

const byActivity = new WeakMap<object, LogIds>();

/**
 * Adds ids to every later log line of the running activity, the SDK's own included (runtime/activity-log-ids.ts reads
 * them): for ids an activity learns on the way, such as the VMID of the deletion request it loaded.
 */
export function addLogIds(ids: LogIds): void {
  const ctx = Context.current();
  byActivity.set(ctx, { ...byActivity.get(ctx), ...definedOnly(ids) });
}

export function logIdsOf(ctx: object): LogIds {
  return byActivity.get(ctx) ?? {};
}

/** The ids an activity's arguments carry: `jobId` and `vmid` of its input objects (a work item, an apply context). */
export function logIdsFromArgs(args: readonly unknown[]): LogIds {
  const ids: LogIds = {};
  for (const arg of args) {
    if (!arg || typeof arg !== 'object') continue;
    const o = arg as Record<string, unknown>;
    if (ids.jobId === undefined && typeof o.jobId === 'string') ids.jobId = o.jobId;
    if (ids.vmid === undefined && typeof o.vmid === 'number') ids.vmid = o.vmid;
  }
  return ids;
}

export function seedLogIds(ctx: object, ids: LogIds): void {
  byActivity.set(ctx, { ...definedOnly(ids), ...byActivity.get(ctx) });
}

function definedOnly(ids: LogIds): LogIds {
  return Object.fromEntries(Object.entries(ids).filter(([, v]) => v !== undefined && v !== null)) as LogIds;
}
