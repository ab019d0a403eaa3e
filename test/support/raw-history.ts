import type { Client } from '@temporalio/client';

/**
 * Every byte and string of a workflow's history as Temporal stores it (payload data and metadata, user metadata,
 * failure messages, search attributes), without any data converter: what someone reading the history with the
 * Temporal CLI or UI, or straight from its database, can read.
 */
export async function rawHistoryText(client: Client, workflowId: string): Promise<string> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const parts: string[] = [];
  const walk = (value: unknown): void => {
    if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('latin1'));
    else if (typeof value === 'string') parts.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(history);
  return parts.join('\n');
}
