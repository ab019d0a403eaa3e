import { Context } from '@temporalio/activity';

/**
 * Heartbeats while `work` runs, so a cancel reaches an activity that is blocked in an HTTP call: Temporal delivers
 * cancellation on a heartbeat's answer, and the activity's cancellation signal then aborts the request.
 */
export async function withHeartbeat<T>(details: unknown, work: () => Promise<T>, everyMs = 1000): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(details), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
