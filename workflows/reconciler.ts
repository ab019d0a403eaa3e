import { proxyActivities, setCurrentDetails } from '@temporalio/workflow';
import type { ReconcilerActivities } from '../activities/reconciler';
import type { ReconcileInput, ReconcileResult } from './types';

const { reconcileMergedBranches } = proxyActivities<ReconcilerActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  // The schedule runs again soon; a run that cannot reach NetBox fails visibly instead of piling up.
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 4 },
});

/**
 * Run by the reconciler Schedule: starts the apply of every recent merge of an opted-in branch that has none yet,
 * under the same workflow ids as the merge hook. Its result lists what it started, found existing or skipped.
 */
export async function ReconcilerWorkflow(input: ReconcileInput): Promise<ReconcileResult> {
  setCurrentDetails(`Looking back ${input.lookbackHours} h for merges of opted-in branches without an apply run`);
  const result = await reconcileMergedBranches(input);
  const started = result.started.map((s) => `- started \`${s.workflowId}\` (branch ${s.branchName}, #${s.branchId})`);
  setCurrentDetails([
    `**${result.started.length} started**, ${result.existing.length} already applied, ${result.skipped.length} skipped, ` +
      `${result.failed.length} failed; merges since ${result.windowStart}`,
    ...started,
    ...result.failed.map((f) => `- failed on branch #${f.branchId}: ${f.error}`),
  ].join('\n'));
  return result;
}
