import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';

/**
 * With RECORD_HISTORIES=1, saves a finished workflow's history for the replay test (test/histories/<name>.json): its
 * latest run, or the run `runId` of its chain (a run that continued as new).
 */
export async function recordHistoryIfAsked(client: Client, workflowId: string, name: string, runId?: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const path = fileURLToPath(new URL(`../histories/${name}.json`, import.meta.url));
  writeFileSync(path, historyToJSON(history) + '\n');
}
