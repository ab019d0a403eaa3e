import type { Client } from '@temporalio/client';
import type { PollerSeen } from '../domain/service-status';

/** temporal.api.enums.v1 values (@temporalio/proto is not a dependency of ours). */
const TASK_QUEUE_KIND_NORMAL = 1;
const TASK_QUEUE_TYPE = { workflow: 1, activity: 2 } as const;

export interface TaskQueuePollers { workflow: PollerSeen[]; activity: PollerSeen[] }

/**
 * Who polls a task queue, by Temporal's DescribeTaskQueue (workflow and activity task types): each poller's identity
 * and the last time Temporal saw it poll. Both calls share one gRPC deadline.
 */
export async function describeTaskQueuePollers(client: Client, taskQueue: string, timeoutMs: number): Promise<TaskQueuePollers> {
  const deadline = Date.now() + timeoutMs;
  const describe = async (taskQueueType: number): Promise<PollerSeen[]> => {
    const res = await client.connection.withDeadline(deadline, () => client.workflowService.describeTaskQueue({
      namespace: client.options.namespace, taskQueue: { name: taskQueue, kind: TASK_QUEUE_KIND_NORMAL }, taskQueueType,
    }));
    return (res.pollers ?? []).map((p) => ({ identity: p.identity ?? '', lastAccessMs: timestampMs(p.lastAccessTime) }));
  };
  const [workflow, activity] = await Promise.all([describe(TASK_QUEUE_TYPE.workflow), describe(TASK_QUEUE_TYPE.activity)]);
  return { workflow, activity };
}

function timestampMs(t: { seconds?: { toNumber(): number } | number | string | null; nanos?: number | null } | null | undefined): number | null {
  if (!t || t.seconds === null || t.seconds === undefined) return null;
  const seconds = typeof t.seconds === 'object' ? t.seconds.toNumber() : Number(t.seconds);
  return seconds * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}
