import type { Context } from '@temporalio/activity';
import type {
  ActivityExecuteInput, ActivityInboundCallsInterceptor, ActivityOutboundCallsInterceptor, GetLogAttributesInput, Next,
} from '@temporalio/worker';
import { logIdsFromArgs, logIdsOf, seedLogIds } from '../activities/log-ids';

/**
 * Every log line of an activity (its own and the SDK's) carries the run's `runId` and the ids of what it works on:
 * `jobId` and `vmid` from its input (work items, apply contexts), and what the activity adds itself (activities/log-ids.ts).
 */
export function activityLogIds(ctx: Context): { inbound: ActivityInboundCallsInterceptor; outbound: ActivityOutboundCallsInterceptor } {
  return {
    inbound: {
      execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
        seedLogIds(ctx, logIdsFromArgs(input.args));
        return next(input);
      },
    },
    outbound: {
      getLogAttributes(input: GetLogAttributesInput, next: Next<ActivityOutboundCallsInterceptor, 'getLogAttributes'>) {
        const runId = ctx.info.workflowExecution?.runId;
        return next({ ...(runId ? { runId } : {}), ...logIdsOf(ctx), ...input });
      },
    },
  };
}
