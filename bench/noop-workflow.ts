import { proxyActivities } from '@temporalio/workflow';
import { runBounded } from '../domain/bounded';

export interface NoopActivities { noop(i: number): Promise<number> }

const { noop } = proxyActivities<NoopActivities>({ startToCloseTimeout: '1 minute' });

/** The floor the apply is measured against: the same number of activities, doing nothing, with the same fan-out. */
export async function NoopFanOutWorkflow(count: number, concurrency: number): Promise<number> {
  let done = 0;
  await runBounded(Array.from({ length: count }, (_, i) => i), concurrency, async (i) => {
    await noop(i);
    done += 1;
  });
  return done;
}
